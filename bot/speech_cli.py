"""The speech commands of `interview-bot`: list and fetch Vosk models and Piper voices, transcribe a file, warm the
voice cache."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bot.config import Config
from engine.coaching.questions import QUESTION_LANGUAGE, bank_questions
from engine.errors import AudioSilent, EngineError
from engine.speech import (
    DEFAULT_BASE_URL,
    KNOWN_MODELS,
    AudioConverter,
    AudioLimits,
    ModelFetchError,
    VoskTranscriber,
    fetch_model,
    find_model,
    list_models,
)
from engine.speech.voices import (
    DEFAULT_VOICES_URL,
    KNOWN_VOICES,
    AudioFormat,
    VoiceCache,
    VoiceSynthesizer,
    fetch_voice,
    for_the_ear,
)
from engine.types import AudioInput

PROG = "interview-bot"


def register(subparsers: Any) -> None:
    """Add `models list`, `models fetch` and `transcribe` to the CLI's subparsers."""
    models = subparsers.add_parser(
        "models",
        help="list or download Vosk speech models and Piper voices",
        description="List or download Vosk speech models (voice answers) and Piper voices (spoken questions). "
        "Without an action, the same as `models list`.",
    )
    models.set_defaults(func=cmd_models_list)
    actions = models.add_subparsers(title="actions", metavar="ACTION")

    listing = actions.add_parser(
        "list",
        help="show the model and voice each language will use, where they were found, and whether voices load",
        description="Show every language with a speech model and where it was found "
        "(config, models folder, $VOSK_MODEL_PATH or an installed package), then every language with a voice "
        "(config, voices folder or an installed package) and whether it loads.",
    )
    listing.set_defaults(func=cmd_models_list)

    fetch = actions.add_parser(
        "fetch",
        help="download the official model for a language into the models folder",
        description="Download the official Vosk model for LANG into [speech] models_dir.",
    )
    fetch.add_argument("language", metavar="LANG", help=f"language code: {', '.join(sorted(KNOWN_MODELS))}")
    fetch.add_argument("--large", action="store_true", help="the large, more accurate model (about 2 GB)")
    fetch.add_argument("--base-url", default=DEFAULT_BASE_URL, help="a mirror of the model downloads")
    fetch.set_defaults(func=cmd_models_fetch)

    fetch_voice_parser = actions.add_parser(
        "fetch-voice",
        help="download a published Piper voice for a language into the voices folder",
        description="Download a Piper voice (rhasspy/piper-voices) for LANG into [voice] voices_dir/LANG/.",
    )
    fetch_voice_parser.add_argument(
        "language", metavar="LANG", help=f"language code; with a default voice: {', '.join(sorted(KNOWN_VOICES))}"
    )
    fetch_voice_parser.add_argument(
        "--voice", metavar="NAME", help="a voice by name, e.g. en_US-amy-medium (default: a clear medium voice)"
    )
    fetch_voice_parser.add_argument("--base-url", default=DEFAULT_VOICES_URL, help="a mirror of the voice downloads")
    fetch_voice_parser.set_defaults(func=cmd_models_fetch_voice)

    voices = subparsers.add_parser(
        "voices", help="manage spoken questions", description="Manage the spoken questions' audio cache."
    )
    voices.set_defaults(func=_help(voices))
    voice_actions = voices.add_subparsers(title="actions", metavar="ACTION")
    warm = voice_actions.add_parser(
        "warm",
        help="speak the question bank into the cache, so first candidates get cached audio",
        description="Synthesise every question of the bank that names no role, company or industry into the "
        "voice cache ([voice] cache_dir), in both formats the bot sends.",
    )
    warm.add_argument("--language", metavar="LANG", help=f"the voice's language (default: {QUESTION_LANGUAGE})")
    warm.add_argument(
        "--format", choices=("ogg", "mp3", "both"), default="both", help="ogg (Telegram), mp3 (Slack) or both"
    )
    warm.set_defaults(func=cmd_voices_warm)

    transcribe = subparsers.add_parser(
        "transcribe",
        help="transcribe an audio or video file with the local speech model",
        description="Transcribe one audio or video file (voice note, m4a, mp3, wav, ...) and show the words "
        "with their timings and the real-time factor.",
    )
    transcribe.add_argument("file", metavar="FILE", type=Path, help="the audio or video file")
    transcribe.add_argument("--lang", metavar="LANG", help="language (default: [speech] default_language)")
    transcribe.add_argument("--json", action="store_true", help="print JSON instead of text")
    transcribe.set_defaults(func=cmd_transcribe)


def _help(parser: argparse.ArgumentParser) -> Any:
    def show(args: argparse.Namespace, config: Config) -> int:
        parser.print_help(sys.stderr)
        return 2

    return show


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 1


def cmd_models_list(args: argparse.Namespace, config: Config) -> int:
    """`models list`: which model each language will use, and what else can be fetched."""
    speech = config.speech
    found = list_models(
        configured=speech.models, models_dir=speech.models_dir, env=os.environ, default_language=speech.default_language
    )
    missing = sorted(set(KNOWN_MODELS) - {info.language for info in found})
    if found:
        rows = [("LANG", "SOURCE", "MODEL", "PATH")] + [
            (info.language, info.source, info.name, str(info.path)) for info in found
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3])
    else:
        print(f"No speech models found (models folder: {speech.models_dir}).")
    if speech.default_language not in {info.language for info in found}:
        print(f"The default language {speech.default_language} has no model: voice answers will be refused.")
    if missing:
        print(f"Can be fetched: {', '.join(missing)} ({PROG} models fetch LANG)")
    print()
    _list_voices(config)
    return 0


def _list_voices(config: Config) -> None:
    """The voices part of `models list`: each language's voice, loaded once to prove it works."""
    voice = config.voice
    synthesizer = VoiceSynthesizer(voice, default_language=QUESTION_LANGUAGE, workers=1, cache=VoiceCache(Path("."), 0))
    try:
        synthesizer.load()
        rows = synthesizer.status()
    finally:
        synthesizer.close()
    state = "on" if voice.enabled else "off ([voice] enabled = false): questions go as text only"
    print(f"Voices for spoken questions (voice {state}):")
    if rows:
        table = [("LANG", "SOURCE", "VOICE", "LOADS", "PATH")] + [
            (row.language, row.source, row.name, "ok" if row.error is None else "ERROR", str(row.path)) for row in rows
        ]
        widths = [max(len(line[i]) for line in table) for i in range(4)]
        for line in table:
            print("  ".join(cell.ljust(width) for cell, width in zip(line[:4], widths, strict=True)) + "  " + line[4])
        for row in rows:
            if row.error is not None:
                print(f"  {row.language}: {row.error}")
    else:
        print(f"No voices found (voices folder: {voice.voices_dir}).")
    if synthesizer.voice_for(QUESTION_LANGUAGE) is None:
        print(f"No {QUESTION_LANGUAGE} voice: the questions (written in English) go as text only.")
    print(
        f"Voices can be fetched for: {', '.join(sorted(KNOWN_VOICES))} ({PROG} models fetch-voice LANG [--voice NAME])"
    )


def cmd_models_fetch(args: argparse.Namespace, config: Config) -> int:
    """`models fetch LANG`: download with a progress bar; no network is one line, exit 1."""
    models_dir = config.speech.models_dir
    progress = _ProgressBar(sys.stderr.isatty())
    try:
        path = fetch_model(args.language, models_dir, large=args.large, base_url=args.base_url, progress=progress)
    except ModelFetchError as exc:
        progress.finish()
        return _fail(str(exc))
    progress.finish()
    print(path)
    return 0


def cmd_models_fetch_voice(args: argparse.Namespace, config: Config) -> int:
    """`models fetch-voice LANG`: download with a progress bar; no network is one line, exit 1."""
    progress = _ProgressBar(sys.stderr.isatty())
    try:
        path = fetch_voice(
            args.language, config.voice.voices_dir, voice=args.voice, base_url=args.base_url, progress=progress
        )
    except ModelFetchError as exc:
        progress.finish()
        return _fail(str(exc))
    progress.finish()
    print(path)
    return 0


def cmd_voices_warm(args: argparse.Namespace, config: Config) -> int:
    """`voices warm`: the question bank into the cache. Questions naming the role, company or industry differ per
    candidate and are left to be cached when first asked."""
    voice = config.voice
    language = (args.language or QUESTION_LANGUAGE).lower()
    if not voice.enabled:
        return _fail("voice is off ([voice] enabled = false); nothing to warm")
    if voice.cache_mb <= 0:
        return _fail("the voice cache is off ([voice] cache_mb = 0); nothing to warm")
    formats: list[AudioFormat] = ["ogg", "mp3"] if args.format == "both" else [args.format]
    synthesizer = VoiceSynthesizer(voice, default_language=QUESTION_LANGUAGE, ffmpeg=config.speech.ffmpeg)
    try:
        if not synthesizer.has_voice(language):
            return _fail(f"no voice for '{language}'; run `{PROG} models fetch-voice {language}` first")
        error = synthesizer.load([language]).get(language)
        if error:
            return _fail(f"the {language} voice does not load: {error}")
        texts = [q["text"] for q in bank_questions() if "{" not in q["text"]]
        skipped = len(bank_questions()) - len(texts)
        texts = list(dict.fromkeys(text for text in texts if for_the_ear(text)))
        made = cached = failed = 0
        started = time.monotonic()
        progress = _CountProgress(sys.stderr.isatty(), len(texts) * len(formats))
        for fmt in formats:
            for text in texts:
                spoken = synthesizer.speak_blocking(text, language, fmt)
                if spoken is None:
                    failed += 1
                elif spoken.cached:
                    cached += 1
                else:
                    made += 1
                progress(made + cached + failed)
        progress.finish()
    finally:
        synthesizer.close()
    elapsed = time.monotonic() - started
    size = synthesizer.cache.size()
    print(
        f"{len(texts)} questions in {' and '.join(formats)} for {language}: {made} spoken now, {cached} already "
        f"cached, {failed} failed, in {elapsed:.1f} s ({skipped} questions naming the role, company or industry "
        f"are cached when first asked). The cache holds {size / 1e6:.1f} MB in {synthesizer.cache.folder}."
    )
    return 1 if failed else 0


class _CountProgress:
    """`done/total` on stderr: redrawn in place on a terminal, one line per 10% in a log."""

    def __init__(self, interactive: bool, total: int) -> None:
        self._interactive = interactive
        self._total = max(total, 1)
        self._last = -1

    def __call__(self, done: int) -> None:
        step = done if self._interactive else done * 10 // self._total
        if step == self._last:
            return
        self._last = step
        line = f"{done}/{self._total}"
        sys.stderr.write(f"\r{line}" if self._interactive else f"{line}\n")
        sys.stderr.flush()

    def finish(self) -> None:
        if self._interactive and self._last >= 0:
            sys.stderr.write("\n")
            sys.stderr.flush()


class _ProgressBar:
    """A download bar on stderr: redrawn in place on a terminal, one line per 10% in a log."""

    def __init__(self, interactive: bool) -> None:
        self._interactive = interactive
        self._last = ""

    def __call__(self, done: int, total: int | None) -> None:
        if total:
            percent = done * 100 // total
            filled = done * 30 // total
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {percent:3d}%  {done / 1e6:.1f}/{total / 1e6:.1f} MB"
            step = str(percent if self._interactive else percent // 10 * 10)
        else:
            bar = f"{done / 1e6:.1f} MB"
            step = bar if self._interactive else str(done // 10_000_000)
        if step == self._last:
            return
        self._last = step
        sys.stderr.write(f"\r{bar}" if self._interactive else f"{bar}\n")
        sys.stderr.flush()

    def finish(self) -> None:
        if self._interactive and self._last:
            sys.stderr.write("\n")
            sys.stderr.flush()


def cmd_transcribe(args: argparse.Namespace, config: Config) -> int:
    """`transcribe FILE`: the same conversion and recogniser the bot uses, for checking a model by hand."""
    speech = config.speech
    language = (args.lang or speech.default_language).lower()
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror or exc}")
    info = find_model(
        language,
        configured=speech.models,
        models_dir=speech.models_dir,
        env=os.environ,
        default_language=speech.default_language,
    )
    if info is None:
        return _fail(f"no speech model for '{language}'; run `{PROG} models fetch {language}` first")
    limits = AudioLimits(max_bytes=int(speech.max_audio_mb * 1024 * 1024), max_seconds=speech.max_audio_seconds)
    try:
        converter = AudioConverter(speech.ffmpeg, limits)
    except (FileNotFoundError, RuntimeError) as exc:
        return _fail(str(exc))
    transcriber = VoskTranscriber({language: info.path})
    try:
        started = time.monotonic()
        pcm = converter.to_pcm(AudioInput(data=data, filename=args.file.name))
        converted = time.monotonic()
        transcriber.load(language)  # so the real-time factor measures recognition, not the model load
        loaded = time.monotonic()
        transcript = transcriber.transcribe(pcm, language)
        if not transcript.text:
            raise AudioSilent()
    except EngineError as exc:
        return _fail(exc.message)
    result = {
        "file": str(args.file),
        "language": language,
        "model": transcript.model,
        "text": transcript.text,
        "words": [{"word": w.word, "start": w.start, "end": w.end, "conf": w.conf} for w in transcript.words],
        "duration": round(transcript.duration, 3),
        "conversion_seconds": round(converted - started, 3),
        "model_load_seconds": round(loaded - converted, 3),
        "recognition_seconds": round(transcript.processing_seconds, 3),
        "real_time_factor": round(transcript.real_time_factor, 3),
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print(transcript.text)
    print()
    for word in transcript.words:
        print(f"  {word.start:7.2f} {word.end:7.2f}  {word.conf:4.2f}  {word.word}")
    print()
    print(
        f"{transcript.duration:.2f} s of audio recognised in {transcript.processing_seconds:.2f} s "
        f"(real-time factor {transcript.real_time_factor:.2f}; conversion {result['conversion_seconds']:.2f} s, "
        f"model load {result['model_load_seconds']:.2f} s) with {info.name} ({info.source})"
    )
    return 0
