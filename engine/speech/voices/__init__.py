"""Questions spoken aloud, offline: Piper voices (found like the Vosk models), synthesis, encoding and a cache.

Adapters call VoiceSynthesizer.speak(); piper-tts is the optional `voice` extra and is imported only on first use.
"""

from engine.speech.voices.cache import VoiceCache, cache_key
from engine.speech.voices.config import VoiceConfig
from engine.speech.voices.encode import MIME_TYPES, AudioFormat, EncodeError, encode_pcm
from engine.speech.voices.finder import (
    DEFAULT_VOICES_URL,
    KNOWN_VOICES,
    VoiceInfo,
    fetch_voice,
    find_voice,
    is_voice_file,
    list_voices,
    normalize_language,
    packaged_voices,
    voice_name_for,
    voice_url,
)
from engine.speech.voices.synth import SpokenQuestion, VoiceStatus, VoiceSynthesizer
from engine.speech.voices.text import for_the_ear, split_sentences

__all__ = [
    "DEFAULT_VOICES_URL",
    "KNOWN_VOICES",
    "MIME_TYPES",
    "AudioFormat",
    "EncodeError",
    "SpokenQuestion",
    "VoiceCache",
    "VoiceConfig",
    "VoiceInfo",
    "VoiceStatus",
    "VoiceSynthesizer",
    "cache_key",
    "encode_pcm",
    "fetch_voice",
    "find_voice",
    "for_the_ear",
    "is_voice_file",
    "list_voices",
    "normalize_language",
    "packaged_voices",
    "split_sentences",
    "voice_name_for",
    "voice_url",
]
