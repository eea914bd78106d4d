"""Benchmark audio: Korean interview-style answers spoken by espeak-ng, cut to fixed lengths."""

from __future__ import annotations

import itertools
import subprocess
import wave
from pathlib import Path

import imageio_ffmpeg

# Varied sentences, so the recogniser does real decoding work rather than matching one phrase again.
SENTENCES = [
    "저는 지난 삼 년 동안 데이터 엔지니어로 일하면서 많은 프로젝트를 진행했습니다.",
    "팀원들과 협력하여 고객의 문제를 빠르게 해결한 경험이 있습니다.",
    "가장 어려웠던 일은 오래된 시스템을 새로운 플랫폼으로 옮기는 작업이었습니다.",
    "그 과정에서 일정을 관리하고 위험을 줄이는 방법을 배웠습니다.",
    "저는 새로운 기술을 배우는 것을 좋아하고 꾸준히 공부하고 있습니다.",
    "회사의 목표를 이해하고 그에 맞게 우선순위를 정하는 것이 중요하다고 생각합니다.",
    "실수를 했을 때는 바로 인정하고 같은 실수를 반복하지 않도록 노력했습니다.",
    "앞으로 이 회사에서 더 큰 책임을 맡으며 성장하고 싶습니다.",
]

DEFAULT_LENGTHS = (5.0, 10.0, 20.0, 40.0, 60.0)


def make_clips(folder: Path, lengths: tuple[float, ...] = DEFAULT_LENGTHS) -> list[tuple[float, Path]]:
    """One WAV per length (seconds), each cut from a different place in a longer spoken text."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "speech.wav"
    if not source.exists():
        text = " ".join(itertools.islice(itertools.cycle(SENTENCES), 3 * len(SENTENCES)))
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(source), text], check=True)
    with wave.open(str(source)) as reader:
        available = reader.getnframes() / reader.getframerate()
    if available < max(lengths):
        raise RuntimeError(f"espeak-ng produced only {available:.1f} s of speech")
    clips = []
    for index, seconds in enumerate(lengths):
        start = (index * 9.0) % (available - seconds)
        clip = folder / f"clip-{index}-{seconds:g}s.wav"
        if not clip.exists():
            subprocess.run(
                [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-ss", str(start),
                 "-i", str(source), "-t", str(seconds), str(clip)],
                check=True,
            )  # fmt: skip
        clips.append((seconds, clip))
    return clips
