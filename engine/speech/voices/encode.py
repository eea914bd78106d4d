"""Synthesised PCM to the formats chat apps play: OGG/Opus voice notes (Telegram) and MP3 (Slack, browsers)."""

from __future__ import annotations

import logging
import subprocess
from typing import Literal

logger = logging.getLogger(__name__)

AudioFormat = Literal["ogg", "mp3"]
MIME_TYPES: dict[str, str] = {"ogg": "audio/ogg", "mp3": "audio/mpeg"}
# A few seconds of speech take ffmpeg milliseconds; this only stops a wedged ffmpeg from holding a worker.
ENCODE_TIMEOUT_SECONDS = 60.0

# Output options per format. Telegram's sendVoice wants OGG with Opus, mono; Opus runs at 48 kHz. MP3 at 44.1 kHz
# is MPEG-1 layer III, which every player (Slack's inline one included) handles. bitexact and no metadata keep the
# bytes free of the encoder's version, so an upgrade of ffmpeg alone does not look like different audio.
_OUTPUT: dict[str, tuple[str, ...]] = {
    "ogg": ("-c:a", "libopus", "-b:a", "32k", "-application", "voip", "-ar", "48000", "-f", "ogg"),
    "mp3": ("-c:a", "libmp3lame", "-b:a", "64k", "-ar", "44100", "-f", "mp3"),
}


class EncodeError(Exception):
    """ffmpeg could not encode the audio; the message says why in one line."""


def encode_pcm(pcm: bytes, sample_rate: int, fmt: AudioFormat, ffmpeg: str) -> bytes:
    """16-bit mono PCM to `fmt` through ffmpeg on pipes: no shell, no file names, only the pipe protocol.

    BLOCKING: call it from a worker thread.
    """
    if fmt not in _OUTPUT:
        raise EncodeError(f"unknown audio format {fmt!r}; expected one of {', '.join(_OUTPUT)}")
    command = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
        "-protocol_whitelist", "pipe",
        "-f", "s16le", "-ar", str(sample_rate), "-ac", "1", "-i", "pipe:0",
        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
        "-ac", "1", *_OUTPUT[fmt],
        "pipe:1",
    ]  # fmt: skip
    try:
        result = subprocess.run(command, input=pcm, capture_output=True, timeout=ENCODE_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise EncodeError(f"ffmpeg took more than {ENCODE_TIMEOUT_SECONDS:.0f} s to encode {fmt}") from None
    except OSError as exc:
        raise EncodeError(f"could not run ffmpeg ({ffmpeg}): {exc.strerror or exc}") from None
    if result.returncode != 0 or not result.stdout:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        raise EncodeError(f"ffmpeg could not encode {fmt}: {detail[-1] if detail else f'exit {result.returncode}'}")
    return result.stdout
