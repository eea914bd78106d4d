"""Voice answers to text: audio conversion (ffmpeg), the Vosk worker pool, and where speech models come from."""

from engine.speech.audio import AudioConverter, AudioLimits, PcmAudio, find_ffmpeg, sniff_container
from engine.speech.models import (
    DEFAULT_BASE_URL,
    KNOWN_MODELS,
    ModelFetchError,
    ModelInfo,
    fetch_model,
    find_model,
    is_model_dir,
    list_models,
    model_name_for,
)
from engine.speech.pipeline import SpeechPipeline, Transcriber, VoskTranscriber

__all__ = [
    "DEFAULT_BASE_URL",
    "KNOWN_MODELS",
    "AudioConverter",
    "AudioLimits",
    "ModelFetchError",
    "ModelInfo",
    "PcmAudio",
    "SpeechPipeline",
    "Transcriber",
    "VoskTranscriber",
    "fetch_model",
    "find_ffmpeg",
    "find_model",
    "is_model_dir",
    "list_models",
    "model_name_for",
    "sniff_container",
]
