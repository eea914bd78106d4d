"""Real audio for tests: espeak-ng speech, ffmpeg tones and silence, encoded like each platform sends it.

Every function is cached for the test session (same arguments, same bytes), so a clip is synthesised and
encoded once however many tests use it.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

import imageio_ffmpeg

# Words of the Korean test model's vocabulary that espeak-ng speaks clearly enough to be recognised.
KO_GRAMMAR = ["안녕하세요", "감사합니다", "[unk]"]
KO_PHRASE = "안녕하세요 감사합니다"

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()

# fmt name -> ffmpeg output options, each as the platform (or a user's upload) delivers it.
FORMATS: dict[str, list[str]] = {
    "ogg_opus": ["-c:a", "libopus", "-ac", "1", "-b:a", "32k", "-f", "ogg"],  # Telegram voice note
    "mp4_video_note": [],  # Telegram round video note: H.264 picture + AAC sound (built in encode())
    "mp4_aac": ["-vn", "-c:a", "aac", "-b:a", "64k", "-f", "mp4"],  # Slack audio clip
    "m4a_aac": ["-vn", "-c:a", "aac", "-b:a", "64k", "-f", "ipod"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"],
    "webm_opus": ["-c:a", "libopus", "-b:a", "32k", "-f", "webm"],  # browser MediaRecorder
    "flac": ["-c:a", "flac", "-f", "flac"],
    "wav_44k_stereo": ["-ar", "44100", "-ac", "2", "-c:a", "pcm_s16le", "-f", "wav"],
}


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@functools.cache
def speech_wav(text: str, lang: str = "ko") -> bytes:
    """WAV (22.05 kHz mono) of espeak-ng speaking `text`."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", lang, "-w", str(out), text], check=True)
        return out.read_bytes()


@functools.cache
def encode(wav_bytes: bytes, fmt: str) -> bytes:
    """Re-encode a WAV with real ffmpeg into one of FORMATS."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.wav"
        source.write_bytes(wav_bytes)
        out = Path(folder) / "out"
        if fmt == "mp4_video_note":
            _ffmpeg(
                "-f", "lavfi", "-i", "testsrc=size=240x240:rate=10", "-i", str(source),
                "-map", "0:v", "-map", "1:a", "-shortest",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", "64k", "-f", "mp4", str(out),
            )  # fmt: skip
        else:
            _ffmpeg("-i", str(source), *FORMATS[fmt], str(out))
        return out.read_bytes()


@functools.cache
def tone_wav(seconds: float, freq: float = 440.0, volume: float = 0.5) -> bytes:
    """WAV (22.05 kHz mono) of a sine tone; `volume` is its peak as a fraction of full scale (0.5: -6 dBFS)."""
    # lavfi's sine source peaks at 1/8 of full scale.
    return _lavfi_wav(f"sine=frequency={freq}:sample_rate=22050:duration={seconds}", f"volume={volume * 8}")


@functools.cache
def silence_wav(seconds: float) -> bytes:
    """WAV (22.05 kHz mono) of digital silence."""
    return _lavfi_wav(f"anullsrc=r=22050:cl=mono:d={seconds}")


@functools.cache
def long_wav(seconds: float) -> bytes:
    """WAV of KO_PHRASE spoken over and over for `seconds`: real speech for long-job tests."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "phrase.wav"
        source.write_bytes(speech_wav(KO_PHRASE))
        out = Path(folder) / "long.wav"
        _ffmpeg("-stream_loop", "-1", "-i", str(source), "-t", str(seconds), "-c:a", "pcm_s16le", str(out))
        return out.read_bytes()


def _lavfi_wav(source: str, audio_filter: str = "anull") -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.wav"
        _ffmpeg("-f", "lavfi", "-i", source, "-af", audio_filter, "-ac", "1", "-c:a", "pcm_s16le", str(out))
        return out.read_bytes()


def wav_duration(wav_bytes: bytes) -> float:
    """Length in seconds of a PCM WAV made by the functions above."""
    import io
    import wave

    with wave.open(io.BytesIO(wav_bytes)) as reader:
        return reader.getnframes() / reader.getframerate()
