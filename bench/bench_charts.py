"""Chart rendering benchmark: milliseconds per report and progress PNG, and their size in bytes.

Each case is rendered once untimed (fonts load and caches fill on the first call, once per process), then timed
RUNS times one after another; p50 and p95 are over those runs, with the first call shown on its own. A second
table renders the same cases from two threads at once, as the worker pool would. Target: under 300 ms per chart.

Run from the project root: `python bench/bench_charts.py [--runs 20]` (prints tables; takes about 30 seconds).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.reports import AnswerPoint, ProgressPoint, render_progress_chart, render_report_chart

TARGET_MS = 300.0
TITLE = "Senior Backend Engineer at TechCorp Inc"


def answers(count: int, rng: random.Random) -> list[AnswerPoint]:
    """An interview with the mix a real one has: mostly voice, one typed and one skipped answer, one retake."""
    points = []
    for i in range(count):
        label = f"Q{i + 1}"
        if i == count // 2 and count > 2:
            points.append(AnswerPoint(label, None))
            continue
        parts = {
            "content": rng.randint(7, 35),
            "structure": rng.randint(0, 25),
            "delivery": rng.randint(0, 25),
            "relevance": rng.randint(0, 15),
        }
        typed = i == 1
        points.append(
            AnswerPoint(
                label,
                sum(parts.values()),
                parts,
                wpm=None if typed else rng.uniform(95, 195),
                fillers_per_100=None if typed else rng.uniform(0, 9),
                long_pauses=None if typed else rng.randint(0, 4),
                retakes=1 if i == 0 else 0,
            )
        )
    return points


def progress(count: int, rng: random.Random) -> list[ProgressPoint]:
    start = datetime(2025, 1, 6, 18, 0)
    return [
        ProgressPoint(
            start + timedelta(days=2 * i),
            rng.randint(35, 90),
            wpm=rng.uniform(105, 185),
            fillers_per_100=rng.uniform(0, 7),
            coverage=rng.random(),
        )
        for i in range(count)
    ]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed renders per case (default 20)")
    args = parser.parse_args()
    rng = random.Random(12)
    cases: list[tuple[str, Callable[[], bytes]]] = []
    for count in (8, 40):
        points = answers(count, rng)
        cases.append((f"report, {count} questions", functools.partial(render_report_chart, points, TITLE)))
    history = progress(20, rng)
    cases.append(("progress, 20 interviews", functools.partial(render_progress_chart, history, "Your progress")))
    print(f"chart benchmark: {os.cpu_count()} cores, {args.runs} timed renders per case, target {TARGET_MS:.0f} ms")

    print("\none at a time")
    print(f"  {'case':26s} {'first ms':>9s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s} {'PNG bytes':>10s}  target")
    for name, render in cases:
        started = time.perf_counter()
        png = render()
        first = (time.perf_counter() - started) * 1000
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            render()
            times.append((time.perf_counter() - started) * 1000)
        p50, p95 = statistics.median(times), percentile(times, 0.95)
        verdict = "ok" if p95 < TARGET_MS else "OVER"
        print(f"  {name:26s} {first:9.0f} {p50:8.0f} {p95:8.0f} {max(times):8.0f} {len(png):10,d}  {verdict}")

    # The GIL serialises most of the drawing, so two threads mostly share one core: this shows the latency a
    # chart sees when another is being drawn at the same time, not extra throughput.
    print("\ntwo threads at once (latency of each render while the other thread renders too)")
    print(f"  {'case':26s} {'p50 ms':>8s} {'p95 ms':>8s} {'charts/s':>9s}")
    for name, render in cases:

        def timed(render: Callable[[], bytes] = render) -> float:
            started = time.perf_counter()
            render()
            return (time.perf_counter() - started) * 1000

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            started = time.perf_counter()
            times = list(pool.map(lambda _: timed(), range(args.runs)))
            wall = time.perf_counter() - started
        p50, p95 = statistics.median(times), percentile(times, 0.95)
        print(f"  {name:26s} {p50:8.0f} {p95:8.0f} {args.runs / wall:9.1f}")


if __name__ == "__main__":
    main()
