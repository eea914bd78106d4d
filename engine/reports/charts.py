"""Report and progress charts as PNG bytes, drawn with matplotlib's object API (Figure + Agg, never pyplot).

Both renderers are pure and CPU-bound (roughly 0.1-0.3 s each): call them in a worker thread, e.g.
`await asyncio.to_thread(render_report_chart, points, title)`, never on the event loop. pyplot is avoided because
it keeps global state (the current figure, the backend) that is not thread-safe; a private `Figure` per call is.

Both functions raise ValueError on empty input: callers only offer a chart once there is at least one answer (or
one finished interview), and a picture saying "no answers yet" would tell the candidate less than a line of text.
"""

from __future__ import annotations

import functools
import io
import math
import textwrap
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from matplotlib import font_manager, ft2font
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter
from matplotlib.transforms import blended_transform_factory

# The pace band the issue asks for. engine.coaching.feedback calls an answer slow below 110 wpm; the chart shows
# the band candidates are coached towards, not the threshold that triggers a tip.
PACE_BAND = (120.0, 170.0)

DPI = 100
# Phone-readable: 1000 px wide keeps 14 pt labels legible once a chat client scales the image to a screen.
REPORT_SIZE = (1000, 1400)
PROGRESS_SIZE = (1000, 1200)

# Okabe-Ito: distinguishable with the common colour-vision deficiencies and in greyscale by lightness.
BLUE = "#0072B2"
ORANGE = "#E69F00"
GREEN = "#009E73"
PURPLE = "#CC79A7"
SKY = "#56B4E9"
VERMILLION = "#D55E00"
YELLOW = "#F0E442"
GREY = "#999999"
INK = "#222222"
GAP_INK = "#56606C"  # slate: "typed"/"skipped" notes, quieter than the data and distinct from the text

# Known score parts first, in the order feedback.score_parts builds them; unknown parts follow alphabetically.
PART_ORDER = ("content", "structure", "delivery", "relevance")
PART_COLOURS = (BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION, YELLOW)

TITLE_SIZE = 22
PANEL_TITLE_SIZE = 18
LABEL_SIZE = 15
TICK_SIZE = 14
NOTE_SIZE = 12
MAX_TITLE_LINES = 2
TITLE_WIDTH = 44  # characters per title line at TITLE_SIZE (bold) across 1000 px

# Fixed margins in pixels, measured for the font sizes above.
LEFT_PX = 95  # y tick labels and the axis label
REPORT_RIGHT_PX = 85  # the long-pauses axis on the right
PROGRESS_RIGHT_PX = 30
BOTTOM_PX = 75  # x tick labels and the axis label
PANEL_HEAD_PX = 40  # a panel's title above it
PANEL_GAP_PX = 80  # x tick marks of one panel, then the next panel's title
PLOT_WIDTH_PX = 820  # the panels' inner width at 1000 px, after the axis labels
MIN_SLOTS = 6  # one question still gets a bar of normal width, not the whole panel
TREND_FROM = 8  # interviews from which the score gets a rolling average: past that, raw points are noisy
TREND_WINDOW = 5

# No Software/version chunk: the same input gives the same bytes on any matplotlib build.
_PNG_METADATA: dict[str, str | None] = {"Software": None}


@dataclass(frozen=True)
class AnswerPoint:
    """One question of an interview as the report chart sees it.

    score is None for a skipped question; wpm, fillers_per_100 and long_pauses are None for a typed answer.
    parts are the score parts (engine.coaching.feedback: content 0-35, structure 0-25, delivery 0-25,
    relevance 0-15, adding up to the score).
    """

    label: str
    score: int | None
    parts: dict[str, int] = field(default_factory=dict)
    wpm: float | None = None
    fillers_per_100: float | None = None
    long_pauses: int | None = None
    retakes: int = 0


@dataclass(frozen=True)
class ProgressPoint:
    """One finished interview on the progress chart; coverage is the share (0..1) of key points covered."""

    when: datetime
    score: int
    wpm: float | None = None
    fillers_per_100: float | None = None
    coverage: float | None = None


def render_report_chart(points: Sequence[AnswerPoint], title: str) -> bytes:
    """PNG of one interview: score per question by part, pace against the band, fillers and long pauses.

    Works for 1 to 40+ questions; typed and skipped answers leave gaps labelled "typed"/"skipped" rather than
    zeros that would read as a bad answer. Raises ValueError when there are no points. Call off the event loop.
    """
    if not points:
        raise ValueError("render_report_chart needs at least one answer")
    figure, (score_ax, pace_ax, filler_ax) = _panels(REPORT_SIZE, title, (1.25, 1, 1), right_px=REPORT_RIGHT_PX)
    xs = list(range(len(points)))
    _score_panel(score_ax, points, xs)
    _pace_panel(pace_ax, [None if p.score is None else p.wpm for p in points], xs, _gap_notes(points))
    _filler_panel(filler_ax, points, xs)
    labels = [_clean(p.label) for p in points]
    _category_ticks(filler_ax, xs, labels)
    filler_ax.set_xlabel("Question", fontsize=LABEL_SIZE)
    return _png(figure)


def render_progress_chart(points: Sequence[ProgressPoint], title: str) -> bytes:
    """PNG of the trend over finished interviews (oldest first): score and key-point coverage, pace, fillers.

    Interviews are spaced evenly and labelled with their date, so a burst of practice on one day stays readable;
    one point gives a single marker on sensible fixed axes. Raises ValueError when there are no points.
    """
    if not points:
        raise ValueError("render_progress_chart needs at least one finished interview")
    figure, (score_ax, pace_ax, filler_ax) = _panels(PROGRESS_SIZE, title, (1, 1, 1), right_px=PROGRESS_RIGHT_PX)
    xs = list(range(len(points)))
    style = _line_style(len(points))

    scores = [float(p.score) for p in points]
    if len(points) >= TREND_FROM:
        score_ax.plot(xs, scores, color=SKY, label="Overall score", **style)
        score_ax.plot(
            xs, _rolling_mean(scores, TREND_WINDOW), color=BLUE, linewidth=3.5, label=f"Average of last {TREND_WINDOW}"
        )
    else:
        score_ax.plot(xs, scores, color=BLUE, label="Overall score", **style)
    coverage = [_nan(None if p.coverage is None else 100 * p.coverage) for p in points]
    if any(not math.isnan(c) for c in coverage):
        score_ax.plot(
            xs, coverage, color=ORANGE, linestyle="--", marker="s", label="Key points covered", **_without_marker(style)
        )
    score_ax.set_ylim(0, 125)
    score_ax.set_yticks([0, 25, 50, 75, 100])
    score_ax.yaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    score_ax.legend(loc="upper center", fontsize=NOTE_SIZE, ncols=3, framealpha=0.9)
    _panel(score_ax, "Overall score and key points covered", "")

    pace_ax.plot(xs, [_nan(p.wpm) for p in points], color=GREEN, label="Pace", **style)
    _pace_axes(pace_ax, [p.wpm for p in points])
    pace_ax.legend(loc="upper right", fontsize=NOTE_SIZE, ncols=2, framealpha=0.9)
    _panel(pace_ax, "Pace", "words per minute")

    fillers = [_nan(p.fillers_per_100) for p in points]
    filler_ax.plot(xs, fillers, color=VERMILLION, marker="D", **_without_marker(style))
    top = max((f for f in fillers if not math.isnan(f)), default=0.0)
    filler_ax.set_ylim(0, max(5.0, top * 1.2))
    _panel(filler_ax, "Fillers", "per 100 words")

    _category_ticks(filler_ax, xs, _date_labels([p.when for p in points]))
    filler_ax.set_xlabel("Finished interviews", fontsize=LABEL_SIZE)
    return _png(figure)


def _panels(size: tuple[int, int], title: str, ratios: tuple[float, ...], right_px: int) -> tuple[Figure, list[Axes]]:
    """A private figure with its panels stacked on a shared x axis, laid out with fixed pixel margins.

    Every font size is fixed here, so the margins can be too; matplotlib's constrained layout would find the same
    ones at the cost of about half the rendering time.
    """
    width, height = size
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    heading = _title(title)
    title_px = (heading.count("\n") + 1) * TITLE_SIZE * 1.3 * DPI / 72
    figure.suptitle(heading, y=1 - 10 / height, va="top", fontsize=TITLE_SIZE, fontweight="bold", color=INK)
    top_px = 10 + title_px + PANEL_HEAD_PX
    count = len(ratios)
    panel_px = (height - top_px - BOTTOM_PX - (count - 1) * PANEL_GAP_PX) / count
    return figure, list(
        figure.subplots(
            count,
            1,
            sharex=True,
            height_ratios=ratios,
            gridspec_kw={
                "left": LEFT_PX / width,
                "right": 1 - right_px / width,
                "top": 1 - top_px / height,
                "bottom": BOTTOM_PX / height,
                "hspace": PANEL_GAP_PX / panel_px,
            },
        )
    )


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata=_PNG_METADATA)
    return buffer.getvalue()


def _bars(
    ax: Axes,
    xs: Sequence[float],
    heights: Sequence[float],
    width: float,
    colour: str,
    label: str,
    bottoms: Sequence[float] | None = None,
    hatch: str | None = None,
) -> None:
    """Bars as one PolyCollection: `Axes.bar` makes a Rectangle artist per bar, three times slower at 40 questions."""
    base = bottoms or [0.0] * len(xs)
    half = width / 2
    boxes = [
        [(x - half, b), (x - half, b + h), (x + half, b + h), (x + half, b)]
        for x, h, b in zip(xs, heights, base, strict=True)
        if h > 0
    ]
    bars = PolyCollection(boxes, facecolors=colour, edgecolors="white", linewidths=1, label=label, hatch=hatch)
    ax.add_collection(bars, autolim=False)  # every panel sets its own limits


def _gap_notes(points: Sequence[AnswerPoint]) -> list[str | None]:
    """Why a question has no delivery figures: skipped, typed, or (None) it has them."""
    return ["skipped" if p.score is None else "typed" if p.wpm is None else None for p in points]


def _score_panel(ax: Axes, points: Sequence[AnswerPoint], xs: list[int]) -> None:
    names = _part_names(points)
    width = _bar_width(len(points))
    bottoms = [0.0] * len(points)
    for index, name in enumerate(names):
        heights = [float(p.parts.get(name, 0)) if p.score is not None else 0.0 for p in points]
        colour = PART_COLOURS[index % len(PART_COLOURS)]
        _bars(ax, xs, heights, width, colour, name.capitalize(), bottoms)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    # A score without its parts (an older answer, another grader) still shows, as one grey bar.
    bare = [float(p.score) if p.score is not None and not p.parts else 0.0 for p in points]
    if any(bare):
        _bars(ax, xs, bare, width, GREY, "Score")

    retake_note = False
    crowded = len(points) > 20
    for x, point in zip(xs, points, strict=True):
        if point.score is None:
            _gap_note(ax, x, "skipped", crowded)
            continue
        top = max(float(point.score), sum(point.parts.values()))
        text = "" if crowded else str(point.score)
        if point.retakes:
            retake_note = True
            text += f"\n↻{point.retakes}" if text else f"↻{point.retakes}"
        if text:
            ax.text(x, top + 1.5, text, ha="center", va="bottom", fontsize=NOTE_SIZE, color=INK, linespacing=1.0)
    ax.set_ylim(0, 130)
    ax.set_yticks([0, 25, 50, 75, 100])
    if ax.get_legend_handles_labels()[0]:  # none when every question was skipped
        legend = ax.legend(loc="upper center", ncols=5, fontsize=NOTE_SIZE, framealpha=0.9)
        if retake_note:
            legend.set_title("↻ n = retakes (best attempt shown)", prop=font_manager.FontProperties(size=NOTE_SIZE))
    _panel(ax, "Score per question", "points (of 100)")


def _pace_panel(ax: Axes, wpms: list[float | None], xs: list[int], notes: list[str | None]) -> None:
    low, high = PACE_BAND
    size = 90 if len(xs) <= 20 else 45
    groups: dict[str, list[tuple[int, float]]] = {"in": [], "fast": [], "slow": []}
    for x, wpm in zip(xs, wpms, strict=True):
        if wpm is not None:
            groups["slow" if wpm < low else "fast" if wpm > high else "in"].append((x, wpm))
    # Shape as well as colour tells in-band from off-band, for readers who cannot rely on colour.
    for key, marker, colour, label in (
        ("in", "o", BLUE, "In the band"),
        ("fast", "^", VERMILLION, "Too fast"),
        ("slow", "v", VERMILLION, "Too slow"),
    ):
        if groups[key]:
            gx, gy = zip(*groups[key], strict=True)
            ax.scatter(gx, gy, s=size, marker=marker, color=colour, label=label, zorder=3)
    ax.plot(xs, [_nan(w) for w in wpms], color=GREY, linewidth=1, zorder=2)
    _pace_axes(ax, wpms)
    for x, note in zip(xs, notes, strict=True):
        if note:
            _gap_note(ax, x, note, len(xs) > 20)
    ax.legend(loc="upper right", fontsize=NOTE_SIZE, ncols=4, framealpha=0.9)
    _panel(ax, "Pace per answer", "words per minute")


def _pace_axes(ax: Axes, wpms: Sequence[float | None]) -> None:
    low, high = PACE_BAND
    ax.axhspan(low, high, color=GREEN, alpha=0.15, zorder=0, label=f"Target {low:.0f}–{high:.0f} wpm")
    known = [w for w in wpms if w is not None]
    bottom = min([low - 30, *(w - 15 for w in known)])
    top = max([high + 50, *(w + 25 for w in known)])
    ax.set_ylim(max(0.0, bottom), top)


def _filler_panel(ax: Axes, points: Sequence[AnswerPoint], xs: list[int]) -> None:
    width = _bar_width(len(points)) / 2
    # A skipped question draws nothing here even if a caller passed figures for it: its label says why.
    fillers = [(p.fillers_per_100 or 0.0) if p.score is not None else 0.0 for p in points]
    pauses = [float(p.long_pauses or 0) if p.score is not None else 0.0 for p in points]
    left = [x - width / 2 for x in xs]
    right = [x + width / 2 for x in xs]
    _bars(ax, left, fillers, width, ORANGE, "Fillers per 100 words")
    pause_ax = ax.twinx()
    _bars(pause_ax, right, pauses, width, BLUE, "Long pauses (≥ 1 s)", hatch="//")
    ax.set_ylim(0, max(5.0, max(fillers) * 1.35))
    pause_ax.set_ylim(0, max(4.0, max(pauses) * 1.35))
    pause_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    pause_ax.tick_params(labelsize=TICK_SIZE, colors=BLUE)
    pause_ax.set_ylabel("long pauses", fontsize=LABEL_SIZE, color=BLUE)
    for x, note in zip(xs, _gap_notes(points), strict=True):
        if note:
            _gap_note(ax, x, note, len(xs) > 20)
    handles = ax.get_legend_handles_labels()[0] + pause_ax.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + pause_ax.get_legend_handles_labels()[1]
    ax.legend(handles, labels, loc="upper right", fontsize=NOTE_SIZE, ncols=2, framealpha=0.9)
    _panel(ax, "Fillers and long pauses", "fillers per 100 words")
    ax.yaxis.label.set_color(ORANGE)
    ax.tick_params(axis="y", colors=ORANGE)


def _gap_note(ax: Axes, x: float, text: str, crowded: bool) -> None:
    """Write why a value is missing where its bar would be, so a gap never reads as a zero."""
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    ax.text(
        x,
        0.04,
        text,
        transform=transform,
        rotation=90 if crowded else 0,
        ha="center",
        va="bottom",
        fontsize=NOTE_SIZE - (2 if crowded else 0),
        color=GAP_INK,
        style="italic",
    )


def _panel(ax: Axes, title: str, ylabel: str) -> None:
    # A fixed y skips the automatic placement, which measures the tick labels of every panel on each draw.
    ax.set_title(title, fontsize=PANEL_TITLE_SIZE, loc="left", color=INK, y=1.0, pad=8)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _category_ticks(ax: Axes, xs: list[int], labels: list[str]) -> None:
    """Label every category when the labels fit across the width, every n-th otherwise (always the last)."""
    char_px = 0.62 * TICK_SIZE * DPI / 72  # DejaVu Sans averages about 0.62 em per character
    needed = max(len(label) for label in labels) * char_px + 18
    step = max(1, math.ceil(len(xs) * needed / PLOT_WIDTH_PX))
    shown = xs[::step]
    if shown[-1] != xs[-1]:
        if xs[-1] - shown[-1] < step and len(shown) > 1:
            shown.pop()  # the last one matters more than its crowded neighbour
        shown.append(xs[-1])
    ax.set_xticks(shown, [labels[i] for i in shown])
    ax.tick_params(axis="x", labelsize=TICK_SIZE)
    # Few categories would otherwise become very wide bars; keep at least MIN_SLOTS slots, centred.
    pad = max(0, MIN_SLOTS - len(xs)) / 2
    ax.set_xlim(-0.6 - pad, len(xs) - 0.4 + pad)


def _part_names(points: Sequence[AnswerPoint]) -> list[str]:
    seen = {name for p in points if p.score is not None for name in p.parts}
    return [n for n in PART_ORDER if n in seen] + sorted(seen.difference(PART_ORDER))


def _bar_width(count: int) -> float:
    return 0.7 if count > 3 else 0.5


def _line_style(count: int) -> dict[str, Any]:
    # Markers on every point help up to a few dozen interviews; past that they merge into a thick line.
    return {"marker": "o", "markersize": 8 if count <= 30 else 4, "linewidth": 2.5 if count <= 30 else 1.8}


def _without_marker(style: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in style.items() if k != "marker"}


def _date_labels(moments: Sequence[datetime]) -> list[str]:
    with_year = len({m.year for m in moments}) > 1
    return [f"{m.day} {m:%b}" + (f" {m:%y}" if with_year else "") for m in moments]


def _rolling_mean(values: list[float], window: int) -> list[float]:
    """Mean of each value and up to window - 1 before it, so the trend line starts with the first interview."""
    return [sum(values[max(0, i - window + 1) : i + 1]) / (i + 1 - max(0, i - window + 1)) for i in range(len(values))]


def _nan(value: float | None) -> float:
    """matplotlib breaks a line at NaN, which is how a missing value should look."""
    return math.nan if value is None else float(value)


def _title(title: str) -> str:
    lines = textwrap.wrap(_clean(title), TITLE_WIDTH, max_lines=MAX_TITLE_LINES, placeholder="…")
    return "\n".join(lines) or " "


def _clean(text: str) -> str:
    """Make caller text safe to draw: no control characters, no mathtext, and no glyph the font lacks.

    A glyph missing from DejaVu Sans would draw as a box anyway, but matplotlib also warns about it through
    `warnings`, and silencing that with `warnings.catch_warnings` is not thread-safe; drawing a box ourselves is.
    """
    glyphs = _font_glyphs()
    out = []
    for char in " ".join(text.split()):
        if unicodedata.category(char).startswith("C"):
            continue
        out.append(char if ord(char) in glyphs else "□")
    # A pair of "$" would switch matplotlib into mathtext, where a stray backslash or brace raises.
    return "".join(out).replace("$", r"\$")


@functools.cache
def _font_glyphs() -> frozenset[int]:
    """Code points the default sans-serif font (matplotlib's bundled DejaVu Sans) can draw."""
    path = font_manager.findfont(font_manager.FontProperties())
    return frozenset(ft2font.FT2Font(path).get_charmap())
