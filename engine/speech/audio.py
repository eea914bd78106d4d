"""Audio conversion: whatever a platform sent (voice note, video note, clip) to 16 kHz mono 16-bit PCM."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from typing import BinaryIO

from engine.errors import AudioEmpty, AudioInvalid, AudioSilent, AudioTooLarge, AudioTooLong, TranscriptionFailed
from engine.types import AudioInput

# pydub warns at import when no ffmpeg is on PATH (we hand it one below) and its audioop import is
# deprecated on 3.11+; neither is actionable for users of this module.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    from pydub import AudioSegment

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
SAMPLE_WIDTH = 2  # bytes: 16-bit signed little-endian
# Below this peak the microphone picked up nothing usable.
SILENT_PEAK_DBFS = -45.0
# A 20 ms frame counts as sound when its RMS is above this; less than MIN_SOUND_MS of such frames is
# "nothing to hear" even if a single click pushed the peak up.
SOUND_FRAME_DBFS = -50.0
SOUND_FRAME_MS = 20
MIN_SOUND_MS = 150
# ffmpeg normally takes well under a second; a file that keeps it busy this long is treated as a failure
# so that it cannot hold a worker.
FFMPEG_TIMEOUT_SECONDS = 120.0

# Leading bytes of the containers voice answers arrive in; the platform's mime label is often wrong and is never
# trusted. Tried in order after any ID3 tag (see sniff_container).
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"OggS", "ogg"),
    (0, b"fLaC", "flac"),
    (0, b"\x1a\x45\xdf\xa3", "webm"),  # EBML: WebM and Matroska
    (4, b"ftyp", "mp4"),
    # QuickTime files from before the ftyp box start with one of these instead.
    (4, b"moov", "mp4"),
    (4, b"mdat", "mp4"),
    (4, b"wide", "mp4"),
    (4, b"free", "mp4"),
    (0, b"#!AMR", "amr"),  # also "#!AMR-WB"
    (0, b"caff", "caf"),
    (0, b".snd", "au"),
    (0, b"\x30\x26\xb2\x75", "wma"),  # the ASF header object's GUID
)
_ID3_HEADER = 10
_SNIFF_BYTES = 16  # enough for every signature above
# The recording is copied in pieces this big where it must be copied (bytes in, or an ffmpeg without the fd protocol).
_COPY_CHUNK = 1024 * 1024

# The containers chat apps and phones record voice in (as sniff_container names them) and the one ffmpeg demuxer
# each is read with. Anything else is refused before ffmpeg runs: left to probe, ffmpeg also reads playlists and
# manifests (HLS, DASH, SDP, ffconcat) that make it open other files, other recordings included, or the network.
CONTAINERS: dict[str, str] = {
    "ogg": "ogg",  # Telegram voice notes, WhatsApp, Ogg Opus/Vorbis files
    "webm": "matroska",  # browsers' MediaRecorder, .mka/.mkv
    "mp4": "mov",  # Telegram video notes, Slack clips, iPhone .m4a, Android .3gp, .mov
    "mp3": "mp3",
    "aac": "aac",  # raw ADTS
    "wav": "wav",  # also RF64 and BW64
    "flac": "flac",
    "amr": "amr",  # older Android recorders
    "caf": "caf",  # iOS Core Audio
    "aiff": "aiff",
    "au": "au",
    "wma": "asf",
}
# Demuxer options that stop a container from following references to other files. QuickTime "data references"
# can name another file; ffmpeg ignores them by default, and saying so here keeps it that way whatever the build.
_DEMUXER_OPTIONS: dict[str, tuple[str, ...]] = {
    "mov": ("-enable_drefs", "0", "-use_absolute_path", "0"),
}


@dataclass(frozen=True)
class AudioLimits:
    """What one answer may be: checked before (size) and while (duration) decoding."""

    max_bytes: int = 20 * 1024 * 1024
    max_seconds: float = 600.0


@dataclass(frozen=True)
class PcmAudio:
    """Decoded audio ready for the recogniser: 16-bit mono little-endian samples."""

    data: bytes
    sample_rate: int
    duration: float
    peak_dbfs: float


def find_ffmpeg(configured: str = "") -> str:
    """The ffmpeg to run: the configured path or command name, else the one bundled with imageio-ffmpeg.

    Raises FileNotFoundError naming the configured value when it does not exist, so a typo in the
    config fails at start-up rather than on the first voice answer.
    """
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        found = shutil.which(configured)
        if found:
            return found
        raise FileNotFoundError(f"ffmpeg not found: {configured!r} is neither an executable file nor on PATH")
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def sniff_container(head: bytes) -> str:
    """The container the leading bytes belong to ("ogg", "mp4", ...: a key of CONTAINERS), or "" for none.

    Given the whole file (not just its first bytes) it also looks past a leading ID3 tag, which AAC and FLAC
    files sometimes carry as well as MP3s.
    """
    tagged = _id3_length(head)
    if tagged is not None:
        return _tagged_container(head[tagged : tagged + _SNIFF_BYTES])
    return _sniff_untagged(head)


def sniff_file(source: BinaryIO) -> tuple[str, bytes]:
    """sniff_container for an open file, reading only its first bytes (and those past an ID3 tag, however long).

    Returns the container and the first bytes, for the log.
    """
    source.seek(0)
    head = source.read(_SNIFF_BYTES)
    tagged = _id3_length(head)
    if tagged is None:
        return _sniff_untagged(head), head
    source.seek(tagged)
    return _tagged_container(source.read(_SNIFF_BYTES)), head


def _id3_length(head: bytes) -> int | None:
    """Where the audio starts after a leading ID3v2 tag (header, body, footer); None without one."""
    if head[:3] != b"ID3" or len(head) < _ID3_HEADER:
        return None
    return _ID3_HEADER + _syncsafe(head[6:10]) + (_ID3_HEADER if head[5] & 0x10 else 0)  # 0x10: has a footer


def _tagged_container(inner: bytes) -> str:
    """What an ID3-tagged file is, from the bytes after the tag."""
    found = _sniff_untagged(inner)
    return found if found in ("aac", "flac") else "mp3"


def _sniff_untagged(head: bytes) -> str:
    for offset, magic, name in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return name
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "aac"  # ADTS frame header
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mp3"  # MPEG audio frame sync without an ID3 tag
    return ""


def _syncsafe(four: bytes) -> int:
    """An ID3v2 size: four bytes of seven bits each."""
    value = 0
    for byte in four:
        value = value << 7 | byte & 0x7F
    return value


@functools.cache
def _reads_descriptors(ffmpeg: str) -> bool:
    """Whether this ffmpeg has the fd protocol (FFmpeg 6.1 and later) to read an inherited file descriptor."""
    if os.name != "posix":
        return False
    try:
        listing = subprocess.run([ffmpeg, "-hide_banner", "-protocols"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    inputs = listing.stdout.decode(errors="replace").partition("Input:")[2].partition("Output:")[0]
    return "fd" in inputs.split()


class AudioConverter:
    """Turns a voice answer in one of CONTAINERS into PcmAudio, enforcing the limits.

    ffmpeg is run directly rather than through pydub's `AudioSegment.from_file`: from_file either calls
    ffprobe (not shipped with imageio-ffmpeg) or forces one decoder with `codec=`, which needs the codec
    known in advance, and it can only resample with audioop, which has no anti-alias filter. ffmpeg reads the
    container its leading bytes name, resamples properly and stops after the duration limit. pydub then wraps
    the PCM for level and silence checks, and is pointed at the same ffmpeg for any other use.

    The upload is untrusted, so ffmpeg is held to its own input: the demuxer is forced (never probed), and the
    only protocol it may open is the one that reads that input (an inherited file descriptor where ffmpeg has
    the fd protocol, else the one temporary file), so no reference inside a file can reach the network or
    another file.
    """

    def __init__(self, ffmpeg: str = "", limits: AudioLimits = AudioLimits()) -> None:
        self.ffmpeg = find_ffmpeg(ffmpeg)
        self.limits = limits
        self._fd_input = _reads_descriptors(self.ffmpeg)
        AudioSegment.converter = self.ffmpeg

    def to_pcm(self, audio: AudioInput) -> PcmAudio:
        """Decode, downmix and resample; BLOCKING (runs ffmpeg), so call it from a worker thread.

        A recording given as a file is never read into memory: its first bytes are sniffed and ffmpeg reads the file
        itself. Only the decoded PCM (at most max_seconds of it) is held.
        """
        size = audio.size
        if size == 0:
            raise AudioEmpty()
        if size > self.limits.max_bytes:
            raise AudioTooLarge(size, self.limits.max_bytes)
        with audio.open() as source:
            container, head = sniff_file(source)
            if container not in CONTAINERS:
                logger.info(
                    "refused %d bytes labelled %r: not a known audio container (starts %r)",
                    size,
                    audio.mime_type,
                    head[:12],
                )
                raise AudioInvalid()
            logger.debug("converting %d bytes labelled %r, looks like %r", size, audio.mime_type, container)
            raw = self._decode(source, size, container, direct=audio.path is not None)
        if not raw:
            raise AudioInvalid()
        frame_bytes = SAMPLE_WIDTH  # mono
        raw = raw[: len(raw) - len(raw) % frame_bytes]
        duration = len(raw) / (SAMPLE_RATE * frame_bytes)
        if duration > self.limits.max_seconds:
            raise AudioTooLong(duration, self.limits.max_seconds)
        segment = AudioSegment(data=raw, sample_width=SAMPLE_WIDTH, frame_rate=SAMPLE_RATE, channels=1)
        peak = segment.max_dBFS
        if peak < SILENT_PEAK_DBFS or not _has_sound(segment):
            raise AudioSilent()
        return PcmAudio(data=raw, sample_rate=SAMPLE_RATE, duration=duration, peak_dbfs=peak)

    def _decode(self, source: BinaryIO, size: int, container: str, *, direct: bool) -> bytes:
        """Run ffmpeg on the recording (mp4 keeps its index at the end, so a pipe is not enough).

        With the fd protocol, ffmpeg reads the recording file itself through an inherited descriptor (`direct`: a
        real file), or else an unnamed temporary copy of the bytes, so a crash or kill -9 in the middle leaves
        nothing behind in the temp folder. An older ffmpeg reads a named copy in a private temporary folder.
        """
        demuxer = CONTAINERS[container]
        # One second past the limit is enough to tell "too long" without decoding an hour of audio.
        limit = f"{self.limits.max_seconds + 1:.3f}"
        pass_fds: tuple[int, ...]
        with contextlib.ExitStack() as cleanup:
            if self._fd_input:
                if not direct:
                    handle = cleanup.enter_context(tempfile.TemporaryFile(prefix="audio-"))
                    _copy(source, handle)
                    source = handle
                # ffmpeg starts where the shared offset is, which a buffered reader leaves past what it read ahead.
                os.lseek(source.fileno(), 0, os.SEEK_SET)
                protocol, pass_fds = "fd", (source.fileno(),)
                read = ["-fd", str(source.fileno()), "-i", "fd:"]
            else:  # an ffmpeg older than 6.1: the file protocol, which could open other paths too
                folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="audio-"))
                named = os.path.join(folder, "input")
                with open(named, "wb") as copy:
                    _copy(source, copy)
                protocol, pass_fds = "file", ()
                read = ["-i", f"file:{named}"]
            command = [
                self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
                # Input options: what ffmpeg may open and how it reads it. Nested opens inherit both lists.
                "-protocol_whitelist", protocol,
                "-format_whitelist", demuxer,
                "-f", demuxer, *_DEMUXER_OPTIONS.get(demuxer, ()),
                *read,
                "-map", "0:a:0",  # the first sound track; video notes carry a picture too
                "-vn", "-sn", "-dn",
                "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le",
                "-t", limit,
                "-f", "s16le", "-",
            ]  # fmt: skip
            try:
                result = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    pass_fds=pass_fds,
                    timeout=FFMPEG_TIMEOUT_SECONDS,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                logger.warning("ffmpeg ran past %.0f s on a %d-byte %s file", FFMPEG_TIMEOUT_SECONDS, size, container)
                raise TranscriptionFailed("Converting that audio took too long. Please try again.") from None
        if result.returncode != 0:
            detail = result.stderr.decode(errors="replace").strip().splitlines()
            reason = detail[-1] if detail else f"exit {result.returncode}"
            logger.info("ffmpeg could not decode a %d-byte %r file: %s", size, container, reason)
            raise AudioInvalid()
        return result.stdout


def _copy(source: BinaryIO, target: BinaryIO) -> None:
    """The whole recording into `target`, a piece at a time."""
    source.seek(0)
    shutil.copyfileobj(source, target, _COPY_CHUNK)
    target.flush()


def _has_sound(segment: AudioSegment) -> bool:
    """True once MIN_SOUND_MS of 20 ms frames rise above the noise floor; stops early on real speech."""
    needed = MIN_SOUND_MS // SOUND_FRAME_MS
    found = 0
    for start in range(0, len(segment), SOUND_FRAME_MS):
        frame = segment[start : start + SOUND_FRAME_MS]
        if frame.rms and frame.dBFS > SOUND_FRAME_DBFS:
            found += 1
            if found >= needed:
                return True
    return False
