"""How an answer was said: pauses, pace, fillers, pitch and loudness variation and clarity of one voice answer.

Everything comes from the recogniser's word timings and confidences and from the decoded PCM, offline. analyse() is
CPU-bound (Praat's pitch tracker through parselmouth, a few ms per second of audio), so it runs in the speech worker
thread next to the recogniser, never on the event loop. The result travels as a plain dict (Delivery.to_dict) in
Transcript.delivery and Feedback.delivery, so engine.types needs no import of this module.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.speech.audio import PcmAudio
from engine.types import Word

# Recogniser confidence below which a word counts as unsure: the one threshold for Feedback.unsure_words (which
# imports it from here) and for unsure_share. Vosk gives 1.0 to words it is certain of and well under 0.6 to guesses.
UNSURE_CONF = 0.6

# A silence between words this long is a pause a listener notices (conversation analysis puts the "standard maximum"
# silence at about one second).
PAUSE_SECONDS = 1.0
# Articulation rate leaves out every silence from this length up: the usual 250 ms cut between the gaps inside fluent
# speech (stop closures, word boundaries) and real pauses.
ARTICULATION_PAUSE_SECONDS = 0.25
# An ambiguous filler ("like", "so", "you know") counts only with a silence this long before or after it: the hesitation
# that marks it as filling rather than meaning.
FILLER_PAUSE_SECONDS = 0.3

# The pace band coaches give for interview answers, in words per minute, and the windows it is judged over.
SLOW_WPM = 120.0
FAST_WPM = 170.0
WINDOW_SECONDS = 10.0
# A window with less speech than this in it (the first and last, cut by the answer's start and end) gets no verdict:
# a few words over a few seconds say nothing reliable about pace.
MIN_WINDOW_SECONDS = 5.0

# Praat's defaults for speech: nothing below 75 Hz is a voice, and 500 Hz covers high voices without letting the
# tracker lock onto harmonics.
PITCH_FLOOR_HZ = 75.0
PITCH_CEILING_HZ = 500.0
FRAME_SECONDS = 0.01
# Praat runs on pieces of the recording this long (see _chunks), each seen with this much more either side: more than
# the 40 ms analysis window of a 75 Hz floor.
CHUNK_SECONDS = 2.0
CHUNK_MARGIN_SECONDS = 0.1
# Fewer voiced frames than this (in seconds) give no pitch or loudness figures: too little to measure variation.
MIN_VOICED_SECONDS = 1.0
# Frames more than an octave from the median are the tracker's octave errors, not intonation.
OCTAVE_SEMITONES = 12.0
# Below this standard deviation of F0 a voice sounds flat: about 95% of voiced frames then lie within +-4 semitones,
# under two-thirds of an octave, where lively speech ranges over an octave. Measured with this code: espeak-ng's
# robotic default English voice 1.4, the same with no pitch range 0.15, its sentences said alternately low and high 4.1.
MONOTONE_SEMITONES = 2.0

# When a figure is worth a line to the candidate.
NOTE_PAUSE_SECONDS = 2.5  # a longer silence mid-answer reads as being stuck
NOTE_DELAY_SECONDS = 4.0  # recordings start on the button, so a little lead-in silence is normal
NOTE_UNSURE_SHARE = 0.2
MIN_WORDS_FOR_NOTES = 10  # fewer words say nothing reliable about pace or clarity
MAX_NOTES = 3
# Where pauses and fillers fell, kept for the web report's timeline and transcript; a rambling answer's first ones are
# enough to show the pattern, and the stored answer stays small.
MAX_MARKS = 60

_UNK = re.compile(r"\[unk\]|<unk>", re.IGNORECASE)
_CLEAN = re.compile(r"[^\w']+")


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Always fillers, whatever surrounds them.
_SOUNDS = {
    "um": "um",
    "umm": "um",
    "ummm": "um",
    "uhm": "um",
    "uh": "uh",
    "uhh": "uh",
    "er": "er",
    "erm": "er",
    "hmm": "hmm",
    "hmmm": "hmm",
}
# Fillers only where a pause or the sentence shape marks them; each with the words before it that make it grammar
# ("I like", "so that", "as well", "do you know", "what kind of").
_AMBIGUOUS: dict[tuple[str, ...], frozenset[str]] = {
    ("like",): _wordset(
        "i you we they he she would i'd we'd you'd they'd don't didn't doesn't do does did not really also look looks "
        "looked feel feels felt seem seems seemed sound sounds sounded something anything nothing things stuff more "
        "less much exactly very people just"
    ),
    ("so",): _wordset("not and or just"),
    ("well",): _wordset("as very pretty so really quite went go goes going worked works work working done did do"),
    ("basically",): frozenset(),
    ("actually",): frozenset(),
    ("literally",): frozenset(),
    ("you", "know"): _wordset("do did don't didn't if as would could should will might whether let to make"),
    ("i", "mean"): frozenset({"what"}),
    ("kind", "of"): _wordset(
        "what which this that the a an any some every each these those one same different other no all new"
    ),
    ("sort", "of"): _wordset(
        "what which this that the a an any some every each these those one same different other no all new"
    ),
}
# "so that", "so much": the word after tells these apart from the filler.
_NOT_FILLER_BEFORE: dict[tuple[str, ...], frozenset[str]] = {
    ("so",): _wordset("that much many far long few little"),
    ("like",): _wordset("this that these those"),
}


@dataclass(frozen=True)
class Pauses:
    """Silences between words: how many were long, and the longest with the words either side of it."""

    count: int = 0  # silences of PAUSE_SECONDS or more
    longest_seconds: float = 0.0  # the longest silence between two words, long or not
    longest_at_seconds: float | None = None  # where it starts (the end of the word before), from the recording's start
    before: str | None = None
    after: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "longest_seconds": _round(self.longest_seconds),
            "longest_at_seconds": _round(self.longest_at_seconds),
            "before": self.before,
            "after": self.after,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Pauses:
        data = data or {}
        return cls(
            count=int(data.get("count") or 0),
            longest_seconds=float(data.get("longest_seconds") or 0.0),
            longest_at_seconds=_float_or_none(data.get("longest_at_seconds")),
            before=data.get("before"),
            after=data.get("after"),
        )


@dataclass(frozen=True)
class Mark:
    """Where something happened in a voice answer: `at` seconds from the recording's start, lasting `seconds`, at
    the word `index` of the transcript (its words in order, [unk] included: the recogniser's text split on spaces),
    spanning `size` words. A pause's index is the word before it; a filler's is its first word."""

    at: float
    seconds: float
    index: int
    size: int = 1
    word: str = ""

    def to_dict(self) -> dict[str, Any]:
        fields = {"at": _round(self.at), "seconds": _round(self.seconds), "index": self.index, "size": self.size}
        return {**fields, "word": self.word}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Mark:
        return cls(
            at=float(data.get("at") or 0.0),
            seconds=float(data.get("seconds") or 0.0),
            index=int(data.get("index") or 0),
            size=int(data.get("size") or 1),
            word=str(data.get("word") or ""),
        )


@dataclass(frozen=True)
class PaceWindow:
    """Words per minute over one stretch of the answer; `pace` is None where the stretch is too short to judge."""

    start: float
    end: float
    wpm: float
    pace: str | None = None  # "slow", "good", "fast"

    def to_dict(self) -> dict[str, Any]:
        return {"start": _round(self.start), "end": _round(self.end), "wpm": _round(self.wpm, 1), "pace": self.pace}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PaceWindow:
        return cls(
            start=float(data.get("start") or 0.0),
            end=float(data.get("end") or 0.0),
            wpm=float(data.get("wpm") or 0.0),
            pace=data.get("pace"),
        )


@dataclass(frozen=True)
class Delivery:
    """How one voice answer was said. Figures are None where the recording cannot give them (no words, no voice)."""

    pauses: Pauses = field(default_factory=Pauses)
    response_delay_seconds: float | None = None  # silence before the first word
    wpm: float | None = None  # words over the time from the first word's start to the last word's end
    articulation_wpm: float | None = None  # the same with silences of ARTICULATION_PAUSE_SECONDS or more left out
    pace_windows: tuple[PaceWindow, ...] = ()
    fillers_per_100: float = 0.0
    pitch_variation_semitones: float | None = None
    monotone: bool | None = None
    loudness_variation_db: float | None = None
    unsure_share: float | None = None  # share of words with confidence under UNSURE_CONF
    word_count: int = 0
    pause_marks: tuple[Mark, ...] = ()  # each pause of PAUSE_SECONDS or more (the first MAX_MARKS)
    filler_marks: tuple[Mark, ...] = ()  # each filler count_fillers counted (the first MAX_MARKS)

    @property
    def off_pace(self) -> tuple[PaceWindow, ...]:
        """The windows outside the SLOW_WPM-FAST_WPM band."""
        return tuple(w for w in self.pace_windows if w.pace in ("slow", "fast"))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (lists, dicts, rounded floats), as stored with the answer and sent by the HTTP API."""
        return {
            "pauses": self.pauses.to_dict(),
            "response_delay_seconds": _round(self.response_delay_seconds),
            "wpm": _round(self.wpm, 1),
            "articulation_wpm": _round(self.articulation_wpm, 1),
            "pace_windows": [w.to_dict() for w in self.pace_windows],
            "off_pace": [w.to_dict() for w in self.off_pace],
            "fillers_per_100": _round(self.fillers_per_100, 1),
            "pitch_variation_semitones": _round(self.pitch_variation_semitones),
            "monotone": self.monotone,
            "loudness_variation_db": _round(self.loudness_variation_db),
            "unsure_share": _round(self.unsure_share, 3),
            "word_count": self.word_count,
            "pause_marks": [m.to_dict() for m in self.pause_marks],
            "filler_marks": [m.to_dict() for m in self.filler_marks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Delivery:
        """The inverse of to_dict; keys it lacks (older records) take their defaults, `off_pace` is derived."""
        data = data or {}
        monotone = data.get("monotone")
        return cls(
            pauses=Pauses.from_dict(data.get("pauses")),
            response_delay_seconds=_float_or_none(data.get("response_delay_seconds")),
            wpm=_float_or_none(data.get("wpm")),
            articulation_wpm=_float_or_none(data.get("articulation_wpm")),
            pace_windows=tuple(PaceWindow.from_dict(w) for w in data.get("pace_windows") or ()),
            fillers_per_100=float(data.get("fillers_per_100") or 0.0),
            pitch_variation_semitones=_float_or_none(data.get("pitch_variation_semitones")),
            monotone=None if monotone is None else bool(monotone),
            loudness_variation_db=_float_or_none(data.get("loudness_variation_db")),
            unsure_share=_float_or_none(data.get("unsure_share")),
            word_count=int(data.get("word_count") or 0),
            pause_marks=tuple(Mark.from_dict(m) for m in data.get("pause_marks") or ()),
            filler_marks=tuple(Mark.from_dict(m) for m in data.get("filler_marks") or ()),
        )


@dataclass(frozen=True)
class DeliveryNote:
    """One plain-language line for the candidate; `kind` ("pause", "voice", "pace", "delay", "clarity") lets the
    feedback rank it among its tips and leave out what another line already says."""

    kind: str
    text: str


# ----- the analysis ----------------------------------------------------------------------------------------------


def analyse(pcm: PcmAudio, words: Sequence[Word]) -> Delivery:
    """Measure one voice answer from its word timings and its audio. BLOCKING (pitch tracking): call it off the loop.

    Words the recogniser could not name ([unk]) are left out of every figure: they are noise as often as speech.
    """
    timed = [w for w in words if not _UNK.fullmatch(w.word.strip())]
    # Where each timed word stands in the transcript, so marks point at the words the candidate reads.
    places = [n for n, w in enumerate(words) if not _UNK.fullmatch(w.word.strip())]
    pitch_variation, loudness_variation = _voice(pcm)
    return Delivery(
        pauses=_pauses(timed),
        response_delay_seconds=round(timed[0].start, 2) if timed else None,
        wpm=_wpm(timed),
        articulation_wpm=_articulation_wpm(timed),
        pace_windows=_pace_windows(timed),
        fillers_per_100=round(count_fillers(timed) * 100 / len(timed), 1) if timed else 0.0,
        pitch_variation_semitones=pitch_variation,
        monotone=None if pitch_variation is None else pitch_variation < MONOTONE_SEMITONES,
        loudness_variation_db=loudness_variation,
        unsure_share=round(sum(w.conf < UNSURE_CONF for w in timed) / len(timed), 3) if timed else None,
        word_count=len(timed),
        pause_marks=tuple(
            Mark(round(a.end, 2), round(gap, 2), places[n], 1, a.word)
            for n, (gap, a, _) in enumerate(_gaps(timed))
            if gap >= PAUSE_SECONDS
        )[:MAX_MARKS],
        filler_marks=tuple(_filler_mark(timed, places, i, size) for i, size in find_fillers(timed))[:MAX_MARKS],
    )


def _filler_mark(timed: Sequence[Word], places: Sequence[int], i: int, size: int) -> Mark:
    first, last = timed[i], timed[i + size - 1]
    words = " ".join(w.word for w in timed[i : i + size])
    return Mark(round(first.start, 2), round(last.end - first.start, 2), places[i], size, words)


def _gaps(timed: Sequence[Word]) -> list[tuple[float, Word, Word]]:
    """(silence seconds, word before, word after) between each pair of neighbouring words."""
    return [(max(0.0, b.start - a.end), a, b) for a, b in itertools.pairwise(timed)]


def _pauses(timed: Sequence[Word]) -> Pauses:
    gaps = _gaps(timed)
    if not gaps:
        return Pauses()
    longest, before, after = max(gaps, key=lambda gap: gap[0])
    return Pauses(
        count=sum(gap >= PAUSE_SECONDS for gap, _, _ in gaps),
        longest_seconds=round(longest, 2),
        longest_at_seconds=round(before.end, 2) if longest > 0 else None,
        before=before.word if longest > 0 else None,
        after=after.word if longest > 0 else None,
    )


def _wpm(timed: Sequence[Word]) -> float | None:
    """Over the time actually spoken, as Feedback.wpm: leading and trailing silence do not make anyone slow."""
    if not timed:
        return None
    seconds = timed[-1].end - timed[0].start
    return round(len(timed) * 60.0 / seconds, 1) if seconds > 0 else None


def _articulation_wpm(timed: Sequence[Word]) -> float | None:
    if not timed:
        return None
    paused = sum(gap for gap, _, _ in _gaps(timed) if gap >= ARTICULATION_PAUSE_SECONDS)
    seconds = timed[-1].end - timed[0].start - paused
    return round(len(timed) * 60.0 / seconds, 1) if seconds > 0 else None


def _pace_windows(timed: Sequence[Word]) -> tuple[PaceWindow, ...]:
    """Words per minute in each WINDOW_SECONDS of the recording (0-10 s, 10-20 s...), over the part that is spoken.

    A window is cut to the time from the first word's start to the last word's end, so the silence before and after
    the answer does not read as slow speech; a word across a window's edge counts in each by the share of it inside.
    """
    if not timed:
        return ()
    first, last = timed[0].start, timed[-1].end
    windows = []
    edge = math.floor(first / WINDOW_SECONDS) * WINDOW_SECONDS
    while edge < last:
        start, end = max(edge, first), min(edge + WINDOW_SECONDS, last)
        edge += WINDOW_SECONDS
        if end <= start:
            continue
        spoken = sum(_share_inside(w, start, end) for w in timed)
        wpm = spoken * 60.0 / (end - start)
        pace = None
        if end - start >= MIN_WINDOW_SECONDS:
            pace = "slow" if wpm < SLOW_WPM else "fast" if wpm > FAST_WPM else "good"
        windows.append(PaceWindow(round(start, 2), round(end, 2), round(wpm, 1), pace))
    return tuple(windows)


def _share_inside(word: Word, start: float, end: float) -> float:
    length = word.end - word.start
    if length <= 0:
        return 1.0 if start <= word.start < end else 0.0
    return max(0.0, min(word.end, end) - max(word.start, start)) / length


def _token(word: Word) -> str:
    return _CLEAN.sub("", word.word.lower().replace("’", "'"))


def count_fillers(words: Sequence[Word]) -> int:
    """How many fillers `words` hold (see find_fillers)."""
    return len(find_fillers([w for w in words if not _UNK.fullmatch(w.word.strip())]))


def find_fillers(timed: Sequence[Word]) -> list[tuple[int, int]]:
    """(first index, length) of each filler in timed words ([unk] left out).

    "um", "uh", "er", "hmm" always count; "like", "so", "well", "you know", "i mean", "kind of"... count only where
    marked as filling: a silence of FILLER_PAUSE_SECONDS or more before or after (the answer's start and end count
    as silence), or next to another filler, and not after words that make them grammar ("I like", "as well", "what
    kind of") or before words that do ("so that", "like this")."""
    tokens = [_token(w) for w in timed]
    found: list[tuple[int, int]] = []  # (first index, length) of each filler
    i = 0
    while i < len(tokens):
        if tokens[i] in _SOUNDS:
            found.append((i, 1))
            i += 1
            continue
        size = _ambiguous_at(tokens, timed, i)
        if size:
            found.append((i, size))
            i += size
        else:
            i += 1
    return found


def _ambiguous_at(tokens: Sequence[str], timed: Sequence[Word], i: int) -> int:
    """The length of the ambiguous filler marked at tokens[i], or 0."""
    for phrase, not_after in _AMBIGUOUS.items():
        size = len(phrase)
        if tuple(tokens[i : i + size]) != phrase:
            continue
        prev = tokens[i - 1] if i > 0 else ""
        nxt = tokens[i + size] if i + size < len(tokens) else ""
        if prev in not_after or nxt in _NOT_FILLER_BEFORE.get(phrase, ()):
            return 0
        pause_before = i == 0 or timed[i].start - timed[i - 1].end >= FILLER_PAUSE_SECONDS
        pause_after = i + size >= len(timed) or timed[i + size].start - timed[i + size - 1].end >= FILLER_PAUSE_SECONDS
        beside_filler = prev in _SOUNDS or nxt in _SOUNDS or prev == phrase[-1] or nxt == phrase[0]
        return size if pause_before or pause_after or beside_filler else 0
    return 0


def _voice(pcm: PcmAudio) -> tuple[float | None, float | None]:
    """(F0 standard deviation in semitones, intensity standard deviation in dB), both over voiced frames only.

    Semitones make the figure the same for low and high voices; frames more than an octave from the median are left
    out as tracker errors. Loudness is measured where there is voice, so pauses do not count as quiet speech.
    """
    frames = [_voice_frames(pcm, first, last) for first, last in _chunks(len(pcm.data) // 2, pcm.sample_rate)]
    if not frames:
        return None, None
    f0 = np.concatenate([f for f, _ in frames])
    loud = np.concatenate([levels for _, levels in frames])
    if len(f0) * FRAME_SECONDS < MIN_VOICED_SECONDS:
        return None, None
    semitones = 12.0 * np.log2(f0 / np.median(f0))
    semitones = semitones[np.abs(semitones) <= OCTAVE_SEMITONES]
    pitch_variation = round(float(np.std(semitones)), 2)
    loudness_variation = round(float(np.std(loud)), 2) if len(loud) * FRAME_SECONDS >= MIN_VOICED_SECONDS else None
    return pitch_variation, loudness_variation


def _chunks(count: int, rate: int) -> list[tuple[int, int]]:
    """Sample ranges of CHUNK_SECONDS to twice that, covering the recording (none when it is under a second).

    Praat holds the GIL while it computes (parselmouth does not release it), so one call on a whole answer would stop
    the event loop for as long as it runs (~0.2 s a minute of audio); a chunk at a time keeps each stop to ~10 ms.
    """
    if count < rate * MIN_VOICED_SECONDS:
        return []
    size = int(CHUNK_SECONDS * rate)
    pieces = max(1, count // size)
    edges = [round(i * count / pieces) for i in range(pieces + 1)]
    return list(itertools.pairwise(edges))


def _voice_frames(pcm: PcmAudio, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """F0 (Hz) and intensity (dB) of the voiced frames between samples `first` and `last`.

    Praat sees CHUNK_MARGIN_SECONDS more on each side, so frames near the edges have their full analysis window; only
    frames whose centre lies inside the chunk are kept, so neighbouring chunks never count a frame twice.
    """
    import parselmouth  # ~0.1 s to import: only the speech worker needs it

    rate = pcm.sample_rate
    margin = int(CHUNK_MARGIN_SECONDS * rate)
    lo, hi = max(0, first - margin), min(len(pcm.data) // 2, last + margin)
    samples = np.frombuffer(pcm.data, dtype="<i2", count=hi - lo, offset=2 * lo).astype(np.float64) / 32768.0
    sound = parselmouth.Sound(samples, sampling_frequency=rate, start_time=lo / rate)
    pitch = sound.to_pitch(time_step=FRAME_SECONDS, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ)
    f0 = pitch.selected_array["frequency"]
    voiced = f0 > 0
    inside = _inside(pitch.xs(), first / rate, last / rate)

    intensity = sound.to_intensity(minimum_pitch=PITCH_FLOOR_HZ, time_step=FRAME_SECONDS)
    times = intensity.xs()
    # The pitch frame nearest each intensity frame says whether that moment is voiced.
    nearest = np.clip(np.rint((times - pitch.x1) / pitch.dx).astype(int), 0, len(f0) - 1)
    loud = voiced[nearest] & _inside(times, first / rate, last / rate)
    return f0[voiced & inside], intensity.values[0][loud]


def _inside(times: np.ndarray, start: float, end: float) -> np.ndarray:
    return (times >= start) & (times < end)


# ----- what to tell the candidate -----------------------------------------------------------------------------


def delivery_notes(delivery: Delivery) -> list[str]:
    """At most MAX_NOTES plain-language lines, most important first, each only when it matters; often none."""
    return [note.text for note in ranked_notes(delivery)][:MAX_NOTES]


def ranked_notes(delivery: Delivery) -> list[DeliveryNote]:
    """delivery_notes with their kinds, all of them, most important first (Feedback ranks them among its tips and
    drops the kinds its own pace and unsure-word tips already cover)."""
    notes: list[DeliveryNote] = []
    pauses = delivery.pauses
    if pauses.longest_seconds >= NOTE_PAUSE_SECONDS and pauses.longest_at_seconds is not None:
        notes.append(
            DeliveryNote(
                "pause",
                f"You went quiet for {pauses.longest_seconds:.1f} s after '{pauses.before}' (at "
                f"{_clock(pauses.longest_at_seconds)}); a breath is fine, but a long silence sounds stuck, so bridge "
                "it with 'let me think about that'.",
            )
        )
    if delivery.monotone:
        notes.append(
            DeliveryNote(
                "voice",
                "Your voice stayed on much the same note; let it rise and fall on the words that matter so you "
                "sound engaged.",
            )
        )
    stretch = _worst_stretch(delivery)
    if stretch is not None:
        when = f"{_clock(stretch.start)}–{_clock(stretch.end)}"
        if stretch.pace == "slow":
            text = f"You slowed to {stretch.wpm:.0f} words per minute at {when}; keep the pace up through the answer."
        else:
            text = f"You sped up to {stretch.wpm:.0f} words per minute at {when}; slow down where it matters most."
        notes.append(DeliveryNote("pace", text))
    if delivery.response_delay_seconds is not None and delivery.response_delay_seconds >= NOTE_DELAY_SECONDS:
        notes.append(
            DeliveryNote(
                "delay",
                f"It took {delivery.response_delay_seconds:.0f} s before your first word; have an opening sentence "
                "ready so you start promptly.",
            )
        )
    if (
        delivery.unsure_share is not None
        and delivery.unsure_share >= NOTE_UNSURE_SHARE
        and delivery.word_count >= MIN_WORDS_FOR_NOTES
    ):
        notes.append(
            DeliveryNote(
                "clarity",
                f"I couldn't make out {delivery.unsure_share:.0%} of your words with confidence; speak a little "
                "more clearly or closer to the microphone.",
            )
        )
    return notes


def _worst_stretch(delivery: Delivery) -> PaceWindow | None:
    """The off-pace window furthest from the band, when the answer as a whole is in it (otherwise the overall pace
    says it all) and the window is not just the long pause another note already names."""
    if delivery.wpm is None or delivery.word_count < MIN_WORDS_FOR_NOTES:
        return None
    if not SLOW_WPM <= delivery.wpm <= FAST_WPM:
        return None
    pause_at = delivery.pauses.longest_at_seconds
    noted_pause = delivery.pauses.longest_seconds >= NOTE_PAUSE_SECONDS and pause_at is not None
    candidates = [
        w
        for w in delivery.off_pace
        if not (noted_pause and w.pace == "slow" and pause_at is not None and w.start <= pause_at < w.end)
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda w: SLOW_WPM - w.wpm if w.pace == "slow" else w.wpm - FAST_WPM)


def _clock(seconds: float) -> str:
    """0:07, 1:42: where in the recording, to the nearest second."""
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
