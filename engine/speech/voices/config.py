"""[voice]: whether questions are spoken, how, where voices are looked up and how much audio is cached."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CACHE_DIR = Path("data/voice-cache")


@dataclass(frozen=True)
class VoiceConfig:
    """How questions are spoken; the defaults speak wherever a voice for the interview's language is installed."""

    enabled: bool = True
    length_scale: float = 1.0  # above 1 speaks slower, below 1 faster
    speaker: int | None = None  # for voices with several speakers; None: the voice's default speaker
    cache_mb: int = 200  # spoken questions kept on disk; 0: no cache
    voices_dir: Path = Path("models/voices")  # voices_dir/<language>/<name>.onnx beside <name>.onnx.json
    # Where cached audio lives. None: `voice-cache` beside [store] path (load_config fills it in).
    cache_dir: Path | None = None
    models: dict[str, Path] = field(default_factory=dict)  # language -> .onnx voice, checked first
