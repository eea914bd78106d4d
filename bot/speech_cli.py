"""The speech commands of `interview-bot`: list and fetch Vosk models, transcribe a file."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bot.config import Config
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
from engine.types import AudioInput

PROG = "interview-bot"


def register(subparsers: Any) -> None:
    """Add `models list`, `models fetch` and `transcribe` to the CLI's subparsers."""
    models = subparsers.add_parser(
        "models", help="list or download Vosk speech models", description="List or download Vosk speech models."
    )
    models.set_defaults(func=_models_help(models))
    actions = models.add_subparsers(title="actions", metavar="ACTION")

    listing = actions.add_parser(
        "list",
        help="show the model each language will use and where it was found",
        description="Show every language with a speech model and where it was found "
        "(config, models folder, $VOSK_MODEL_PATH or an installed package).",
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


def _models_help(parser: argparse.ArgumentParser) -> Any:
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
    return 0


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
