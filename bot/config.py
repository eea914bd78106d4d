"""The one typed configuration object: TOML file for settings, environment variables for secrets."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.http.config import HttpConfig
from adapters.slack.config import SlackConfig
from adapters.telegram.config import TelegramConfig
from adapters.web.config import WebConfig
from engine.coaching.llm import LlmConfig
from engine.speech.voices.config import VoiceConfig

DEFAULT_CONFIG_FILE = Path("config.toml")
CONFIG_ENV = "INTERVIEW_BOT_CONFIG"


class ConfigError(Exception):
    """A bad configuration value; the message names the key and the file."""


@dataclass(frozen=True)
class StoreConfig:
    """[store]: where sessions, the archive and recordings live."""

    path: Path = Path("data/sessions.json")
    # The folder finished sessions move to, one file each (a name ending in .json stands for that name without it,
    # and a first-layout archive file by that name is migrated). Empty: `sessions-archive` beside `path`.
    archive_path: Path | None = None
    audio_dir: Path = Path("data/audio")
    audio_retention_days: float = 7.0
    stale_after_hours: float = 24.0
    abandon_after_days: float = 30.0  # an active session untouched this long is archived as "abandoned"
    max_sessions_per_user_per_day: int = 20  # new sessions one user may start in any 24 hours
    # "tinydb": files under `path`, one process (the default); "redis": [redis], shared by several processes.
    backend: str = "tinydb"


@dataclass(frozen=True)
class RedisConfig:
    """[redis]: the server sessions, leases and (later) the speech queue live on when [store] backend = "redis"."""

    url: str = "redis://localhost:6379/0"  # may carry a password: INTERVIEW_BOT_REDIS_URL
    key_prefix: str = "ib:"  # several bots can share one server under different prefixes
    # A user's ordering lease, and a running speech job's: a process or worker that dies holds them this long.
    lease_seconds: float = 15.0


@dataclass(frozen=True)
class SpeechConfig:
    """[speech]: models, worker pool and audio limits."""

    default_language: str = "en-us"
    models_dir: Path = Path("models")
    workers: int = field(default_factory=lambda: os.cpu_count() or 2)
    max_audio_mb: float = 20.0
    max_audio_seconds: float = 600.0
    ffmpeg: str = ""  # empty: the ffmpeg bundled with imageio-ffmpeg
    auto_fetch: bool = True
    job_timeout_seconds: float = 300.0
    models: dict[str, str] = field(default_factory=dict)  # language -> model folder, checked first


@dataclass(frozen=True)
class Config:
    """The whole configuration, validated once at start."""

    store: StoreConfig = field(default_factory=StoreConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    slack: SlackConfig = field(default_factory=SlackConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    web: WebConfig = field(default_factory=WebConfig)
    log_level: str = "INFO"
    source: Path | None = None  # the file it came from, for messages


# Secrets may live in the environment instead of the file; the environment wins.
SECRET_ENV = {
    "TELEGRAM_BOT_TOKEN": ("telegram", "token"),
    "TELEGRAM_WEBHOOK_SECRET": ("telegram", "webhook_secret"),
    "SLACK_BOT_TOKEN": ("slack", "bot_token"),
    "SLACK_APP_TOKEN": ("slack", "app_token"),
    "SLACK_SIGNING_SECRET": ("slack", "signing_secret"),
    "INTERVIEW_BOT_ADMIN_TOKEN": ("http", "admin_token"),
    "INTERVIEW_BOT_API_KEY": ("http", "api_key"),
    "LLM_API_KEY": ("llm", "api_key"),
    "INTERVIEW_BOT_REDIS_URL": ("redis", "url"),
    "INTERVIEW_BOT_WEB_SECRET": ("web", "secret"),
}

_CHOICES = {
    ("telegram", "mode"): ("polling", "webhook"),
    ("slack", "mode"): ("http", "socket"),
    ("store", "backend"): ("tinydb", "redis"),
    ("", "log_level"): ("DEBUG", "INFO", "WARNING", "ERROR"),
}
_POSITIVE = {
    ("redis", "lease_seconds"),
    ("speech", "max_audio_mb"),
    ("speech", "max_audio_seconds"),
    ("speech", "job_timeout_seconds"),
    ("http", "max_body_mb"),
    ("store", "audio_retention_days"),
    ("store", "stale_after_hours"),
    ("store", "abandon_after_days"),
    ("store", "max_sessions_per_user_per_day"),
    ("llm", "timeout_seconds"),
    ("voice", "length_scale"),
    ("web", "link_days"),
}
# Whole numbers that may be 0 but not below.
_NOT_NEGATIVE = {
    ("speech", "workers"),  # 0: no transcription here, only with [store] backend = "redis" (workers elsewhere)
    ("llm", "max_followups"),
    ("voice", "cache_mb"),
    ("voice", "speaker"),
}
# The base of report links: a scheme and a host, maybe a port and a path (behind a proxy); no query, no fragment.
_PUBLIC_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]*)?$")
MIN_WEB_SECRET = 32
_LANGUAGE_KEY = re.compile(r"^[a-z]{2,3}(?:[-_][a-z0-9]{2,3})?$", re.IGNORECASE)


def resolve_config_path(cli_path: str | None, env: Mapping[str, str]) -> Path | None:
    """`--config`, else $INTERVIEW_BOT_CONFIG, else ./config.toml if present, else none (defaults)."""
    if cli_path:
        return Path(cli_path)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read, merge and validate the configuration once at start; any problem is one ConfigError."""
    env = os.environ if env is None else env
    where = str(path) if path else "defaults"
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for var, (section, key) in SECRET_ENV.items():
        if env.get(var):
            raw.setdefault(section, {})
            if not isinstance(raw[section], dict):
                raise ConfigError(f"{where}: [{section}] must be a table")
            raw[section][key] = env[var]
    config = _build(Config, raw, "", where)
    _check_exposure(config.http, where)
    if config.speech.workers == 0 and config.store.backend != "redis":
        raise ConfigError(
            f"{where}: 'speech.workers' = 0 leaves nobody to transcribe: it needs [store] backend = \"redis\" and "
            "`interview-bot worker` processes"
        )
    if config.store.backend == "redis" and config.web.public_url and not config.web.secret:
        raise ConfigError(
            f'{where}: with [store] backend = "redis" every front-end must sign report links with the same secret: '
            "set INTERVIEW_BOT_WEB_SECRET (or [web] secret) on all of them"
        )
    if config.store.backend == "redis" and not config.redis.url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{where}: 'redis.url' must start with redis://, rediss:// or unix://")
    if config.llm.enabled and not config.llm.model:
        raise ConfigError(f"{where}: 'llm.model' must name a model when [llm] is enabled")
    if config.voice.cache_dir is None:
        # The spoken-question cache lives in the data folder, beside the sessions.
        voice = dataclasses.replace(config.voice, cache_dir=config.store.path.parent / "voice-cache")
        config = dataclasses.replace(config, voice=voice)
    return dataclasses.replace(config, source=Path(path) if path else None)


def _is_loopback(host: str) -> bool:
    """True for an address only this machine can reach: localhost, 127.0.0.0/8, ::1. Empty means every address."""
    host = host.lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False  # another name may resolve to anything


def _check_exposure(http: HttpConfig, where: str) -> None:
    """The HTTP API trusts the ids its clients send, so without an API key anyone who reaches the port can read
    every HTTP session (CV, job description, transcripts) and start sessions without end. Slack's HTTP mode and
    Telegram's webhooks need this same server to be public, so a public address must not open the API by accident.
    """
    if not http.enabled or http.api_key or http.open_api or _is_loopback(http.host):
        return
    raise ConfigError(
        f"{where}: 'http.host' is {http.host!r}, not loopback, and the interview API has no key, so anyone who can "
        "reach the port could read and start sessions: set an API key (INTERVIEW_BOT_API_KEY or [http] api_key), "
        "or set [http] open_api = true to serve it without one deliberately"
    )


def _build(cls: type, raw: Any, section: str, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [{section}] must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.name != "source"}
    unknown = sorted(set(raw) - names)
    if unknown:
        label = f"{section}.{unknown[0]}" if section else unknown[0]
        raise ConfigError(f"{where}: unknown key '{label}'")
    values = {}
    for name in names & set(raw):
        label = f"{section}.{name}" if section else name
        hint = hints[name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            values[name] = _build(hint, raw[name], name, where)
        else:
            values[name] = _convert(raw[name], hint, label, where)
            _check(section, name, values[name], label, where)
    return cls(**values)


def _convert(value: Any, hint: Any, label: str, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    bad = ConfigError(f"{where}: '{label}' must be {_describe(hint)}, got {value!r}")
    if origin in (types.UnionType, typing.Union):
        if value in ("", None) and type(None) in args:
            return None
        return _convert(value, next(a for a in args if a is not type(None)), label, where)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise bad
    if hint is int:
        if isinstance(value, bool):
            raise bad
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad from None
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise bad
        try:
            return float(value)
        except ValueError:
            raise bad from None
    if hint is str:
        if not isinstance(value, str):
            raise bad
        return value
    if hint is Path:
        if not isinstance(value, str):
            raise bad
        return Path(value).expanduser()
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise bad
        return tuple(_convert(v, args[0], label, where) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        return {str(k): _convert(v, args[1], f"{label}.{k}", where) for k, v in value.items()}
    raise bad


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(hint)[0])}"
    if origin is dict:
        return "a table"
    if origin in (types.UnionType, typing.Union):
        return _describe(next(a for a in typing.get_args(hint) if a is not type(None)))
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string", Path: "a path"}.get(
        hint, str(hint)
    )


def _check(section: str, name: str, value: Any, label: str, where: str) -> None:
    choices = _CHOICES.get((section, name))
    if choices and value not in choices:
        raise ConfigError(f"{where}: '{label}' must be one of {', '.join(choices)}, got {value!r}")
    if (section, name) in _POSITIVE and value <= 0:
        raise ConfigError(f"{where}: '{label}' must be greater than 0, got {value!r}")
    if (section, name) in _NOT_NEGATIVE and value is not None and value < 0:
        raise ConfigError(f"{where}: '{label}' must be 0 or more, got {value!r}")
    if (section, name) == ("voice", "models"):
        for language, path in value.items():
            if not _LANGUAGE_KEY.match(language):
                raise ConfigError(f"{where}: '{label}.{language}' must be a language code like en-us, got {language!r}")
            if path.suffix != ".onnx":
                raise ConfigError(
                    f"{where}: '{label}.{language}' must be the path of a Piper voice's .onnx file, got '{path}'"
                )
    if (section, name) == ("web", "public_url") and value and not _PUBLIC_URL.match(value):
        raise ConfigError(
            f"{where}: '{label}' must be the address candidates open, such as https://coach.example.com, got {value!r}"
        )
    if (section, name) == ("web", "secret") and value and len(value) < MIN_WEB_SECRET:
        raise ConfigError(
            f"{where}: '{label}' (INTERVIEW_BOT_WEB_SECRET) must be at least {MIN_WEB_SECRET} characters; leave it "
            "empty to have one generated and kept in the data folder"
        )
    if (section, name) == ("http", "port") and not 0 <= value <= 65535:
        raise ConfigError(f"{where}: '{label}' must be a port number (0-65535), got {value!r}")
