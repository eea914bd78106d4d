"""Report and progress charts: real PNGs of the stated size, gaps for typed and skipped answers, thread safety."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import threading
import warnings
import zlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from engine.reports import (
    PROGRESS_SIZE,
    REPORT_SIZE,
    AnswerPoint,
    ProgressPoint,
    render_progress_chart,
    render_report_chart,
)
from engine.reports.charts import BLUE, GAP_INK, GREY, ORANGE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[1]


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first and carry a correct CRC."""
    assert png[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR" and length == 13
    body = png[16:29]
    (crc,) = struct.unpack(">I", png[29:33])
    assert zlib.crc32(kind + body) == crc
    width, height = struct.unpack(">II", body[:8])
    assert png.endswith(b"IEND\xaeB`\x82")
    return width, height


def colours(png: bytes) -> dict[tuple[int, int, int], int]:
    image = Image.open(io.BytesIO(png))
    image.load()
    found = image.convert("RGB").getcolors(maxcolors=1 << 24)
    assert found is not None
    return {rgb: count for count, rgb in found}


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def voice(i: int, *, wpm: float = 145.0, fillers: float = 4.0, pauses: int = 2) -> AnswerPoint:
    parts = {"content": 20 + i % 10, "structure": 15, "delivery": 18, "relevance": 10}
    return AnswerPoint(f"Q{i + 1}", sum(parts.values()), parts, wpm, fillers, pauses)


def typed(i: int) -> AnswerPoint:
    parts = {"content": 25, "structure": 15, "delivery": 0, "relevance": 10}
    return AnswerPoint(f"Q{i + 1}", sum(parts.values()), parts)


def skipped(i: int) -> AnswerPoint:
    return AnswerPoint(f"Q{i + 1}", None)


def interview(count: int) -> list[AnswerPoint]:
    return [voice(i, wpm=95.0 + 7 * i % 110) for i in range(count)]


def history(count: int) -> list[ProgressPoint]:
    start = datetime(2025, 11, 3, 18, 30)
    return [
        ProgressPoint(
            start + timedelta(days=i),
            40 + (i * 7) % 50,
            wpm=110.0 + (i * 13) % 70,
            fillers_per_100=(i * 3) % 8,
            coverage=None if i % 9 == 4 else (i % 10) / 10,
        )
        for i in range(count)
    ]


def test_report_is_a_png_of_the_stated_size_wide_enough_for_a_phone() -> None:
    png = render_report_chart(interview(8), "Backend Engineer at TechCorp")
    assert png_size(png) == REPORT_SIZE
    assert REPORT_SIZE[0] >= 800
    Image.open(io.BytesIO(png)).verify()


def test_report_draws_the_bars_not_a_blank_canvas() -> None:
    seen = colours(render_report_chart(interview(8), "Backend Engineer"))
    assert len(seen) > 100  # text antialiasing, bars, the shaded band
    # Content parts and long-pause bars are Okabe-Ito blue; structure parts and filler bars orange.
    assert seen.get(rgb(BLUE), 0) > 20_000
    assert seen.get(rgb(ORANGE), 0) > 20_000


def test_typed_and_skipped_answers_leave_gaps_instead_of_zero_bars() -> None:
    all_voice = [voice(i) for i in range(6)]
    mixed = [voice(0), voice(1), typed(2), voice(3), skipped(4), voice(5)]
    plain = render_report_chart(all_voice, "Interview")
    gaps = render_report_chart(mixed, "Interview")
    assert png_size(gaps) == REPORT_SIZE
    assert gaps != plain
    before, after = colours(plain), colours(gaps)
    # Two answers have no filler bars and one has no score: less orange and blue, not bars drawn at zero height.
    assert after[rgb(ORANGE)] < before[rgb(ORANGE)] * 0.95
    assert after[rgb(BLUE)] < before[rgb(BLUE)] * 0.95
    # ...and the gaps are explained: "typed"/"skipped" are written in their own colour, which nothing else uses.
    assert before.get(rgb(GAP_INK), 0) == 0
    assert after.get(rgb(GAP_INK), 0) > 50
    only_typed = colours(render_report_chart([*mixed[:4], voice(4), voice(5)], "Interview"))
    assert 0 < only_typed.get(rgb(GAP_INK), 0) < after[rgb(GAP_INK)]


def test_all_typed_interview_still_renders() -> None:
    png = render_report_chart([typed(i) for i in range(3)], "Typed only")
    assert png_size(png) == REPORT_SIZE


def test_a_score_without_parts_is_drawn_as_one_grey_bar() -> None:
    png = render_report_chart([AnswerPoint("Q1", 70, {}, 140.0, 2.0, 1)], "No parts")
    assert colours(png).get(rgb(GREY), 0) > 5_000


@pytest.mark.parametrize("count", [1, 40])
def test_report_renders_one_to_forty_questions(count: int) -> None:
    points = interview(count)
    points[-1] = AnswerPoint(points[-1].label, points[-1].score, points[-1].parts, 180.0, 6.5, 3, retakes=2)
    png = render_report_chart(points, "Interview")
    assert png_size(png) == REPORT_SIZE
    assert len(colours(png)) > 100


@pytest.mark.parametrize("count", [1, 100])
def test_progress_renders_one_to_a_hundred_interviews(count: int) -> None:
    png = render_progress_chart(history(count), "Your progress")
    assert png_size(png) == PROGRESS_SIZE
    assert PROGRESS_SIZE[0] >= 800
    seen = colours(png)
    assert len(seen) > 50
    assert seen.get(rgb(BLUE), 0) > 50  # the score marker or line is there


def test_progress_without_pace_or_coverage_renders() -> None:
    points = [ProgressPoint(datetime(2024, 12, 30) + timedelta(days=i), 60 + i) for i in range(5)]
    assert png_size(render_progress_chart(points, "Typed interviews only")) == PROGRESS_SIZE


def test_empty_input_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="at least one answer"):
        render_report_chart([], "Nothing")
    with pytest.raises(ValueError, match="at least one finished interview"):
        render_progress_chart([], "Nothing")


def test_same_input_gives_the_same_bytes() -> None:
    assert render_report_chart(interview(5), "Same") == render_report_chart(interview(5), "Same")


def test_non_ascii_and_mathtext_titles_render_without_glyph_warnings() -> None:
    title = "백엔드 엔지니어 — Société Générale $5$ \\frac{ costs $"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = render_report_chart([voice(0)], title)
        progress = render_progress_chart(history(3), "진행 상황\tprogress\x07")
    assert png_size(report) == REPORT_SIZE
    assert png_size(progress) == PROGRESS_SIZE
    assert [str(w.message) for w in caught] == []


def test_labels_are_cleaned_like_titles() -> None:
    points = [AnswerPoint("질문 1", 50, {"content": 50}, 150.0, 1.0, 0), AnswerPoint("$Q2$", 60, {}, None, None, None)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = render_report_chart(points, "Labels")
    assert png_size(png) == REPORT_SIZE
    assert [str(w.message) for w in caught] == []


def test_rendering_never_imports_pyplot() -> None:
    # A fresh interpreter: this test process may have imported pyplot through some other library.
    script = (
        "import sys\n"
        "from datetime import datetime\n"
        "from engine.reports import AnswerPoint, ProgressPoint, render_progress_chart, render_report_chart\n"
        "render_report_chart([AnswerPoint('Q1', 50, {'content': 50}, 150.0, 2.0, 1)], 't')\n"
        "render_progress_chart([ProgressPoint(datetime(2025, 1, 1), 50)], 't')\n"
        "assert 'matplotlib' in sys.modules\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
        "print('clean')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


def test_two_threads_render_at_once_and_get_the_same_pictures_as_one_thread() -> None:
    report_points, progress_points = interview(12), history(30)
    expected_report = render_report_chart(report_points, "Report")
    expected_progress = render_progress_chart(progress_points, "Progress")
    start = threading.Barrier(2)
    results: dict[str, list[bytes]] = {"report": [], "progress": []}
    errors: list[BaseException] = []

    def work(kind: str) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(4):
                if kind == "report":
                    results[kind].append(render_report_chart(report_points, "Report"))
                else:
                    results[kind].append(render_progress_chart(progress_points, "Progress"))
        except BaseException as error:  # handed to the main thread, which fails the test
            errors.append(error)

    threads = [threading.Thread(target=work, args=(kind,)) for kind in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert results["report"] == [expected_report] * 4
    assert results["progress"] == [expected_progress] * 4
