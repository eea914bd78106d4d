"""The report's charts as inline SVG, drawn on the server from the figures: no script, no request, and each with its
figures as a table (the text alternative). Every mark carries its data in data-* attributes, so a test (or a curious
reader) can read back what was drawn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from engine import PART_MAX

# The chat's pace band (engine.speech.delivery SLOW_WPM/FAST_WPM), passed in so there is one band.
PART_NAMES = tuple(PART_MAX)
WIDTH = 520  # narrow enough that labels stay readable when a phone scales the chart down
LEFT = 48  # room for the labels on the left
RIGHT = 16
TOP = 12
BAR_ROW = 30
MAX_BAR = 56


@dataclass(frozen=True)
class Chart:
    """One figure: its SVG, a sentence that sums it up, and the same figures as a table."""

    key: str  # the data-chart name; also the figure's id
    title: str
    summary: str
    svg: Markup
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    legend: tuple[tuple[str, str], ...] = field(default=())  # (css class, label)


@dataclass(frozen=True)
class ScorePoint:
    """One question on the overview: its best attempt's score and parts (None: skipped)."""

    label: str
    score: int | None
    parts: dict[str, int]
    attempts: int = 1


@dataclass(frozen=True)
class DeliveryPoint:
    """One voice answer on the overview: pace, fillers per 100 words and long pauses."""

    label: str
    wpm: float | None
    fillers_per_100: float | None
    long_pauses: int | None


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    wpm: float
    pace: str | None


@dataclass(frozen=True)
class Moment:
    """A pause or a filler on an answer's timeline."""

    at: float
    seconds: float
    word: str


def _num(value: float) -> str:
    """Coordinates with one decimal at most: small markup, no float noise."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _svg(key: str, height: float, body: list[str], title: str, summary: str) -> Markup:
    """The <svg> element: scales to its container, named for assistive technology by its title and summary."""
    head = (
        f'<svg class="chart" data-chart="{escape(key)}" viewBox="0 0 {WIDTH} {_num(height)}" role="img" '
        f'aria-labelledby="{escape(key)}-t {escape(key)}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(key)}-t">{escape(title)}</title><desc id="{escape(key)}-d">{escape(summary)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, css: str = "label", anchor: str = "start") -> str:
    return f'<text x="{_num(x)}" y="{_num(y)}" class="{css}" text-anchor="{anchor}">{escape(text)}</text>'


def score_chart(points: Sequence[ScorePoint]) -> Chart:
    """Score per question as stacked bars of its parts (content, structure, delivery, relevance), out of 100."""
    plot = WIDTH - LEFT - RIGHT - 40
    height = TOP + BAR_ROW * len(points) + 28
    body = []
    for tick in (0, 25, 50, 75, 100):
        x = LEFT + plot * tick / 100
        body.append(f'<line class="grid" x1="{_num(x)}" x2="{_num(x)}" y1="{TOP}" y2="{_num(height - 24)}"/>')
        body.append(_text(x, height - 8, str(tick), "axis", "middle"))
    for row, point in enumerate(points):
        y = TOP + row * BAR_ROW + 6
        body.append(_text(LEFT - 8, y + 13, point.label, "label", "end"))
        if point.score is None:
            body.append(
                f'<g class="bar" data-label="{escape(point.label)}" data-score="">'
                + _text(LEFT + 4, y + 13, "skipped", "muted")
                + "</g>"
            )
            continue
        rects = []
        x = float(LEFT)
        for name in PART_NAMES:
            value = point.parts.get(name, 0)
            width = plot * value / 100
            rects.append(
                f'<rect class="part-{name}" x="{_num(x)}" y="{_num(y)}" width="{_num(width)}" height="18" '
                f'data-part="{name}" data-value="{value}"><title>{escape(point.label)} {name}: {value} of '
                f"{PART_MAX[name]}</title></rect>"
            )
            x += width
        if not point.parts:  # feedback from before the parts existed: one plain bar
            width = plot * point.score / 100
            rects.append(f'<rect class="part-total" x="{LEFT}" y="{_num(y)}" width="{_num(width)}" height="18"/>')
            x = LEFT + width
        retakes = f" ({point.attempts} tries)" if point.attempts > 1 else ""
        rects.append(_text(x + 6, y + 13, f"{point.score}{retakes}", "value"))
        body.append(
            f'<g class="bar" data-label="{escape(point.label)}" data-score="{point.score}" '
            f'data-attempts="{point.attempts}">' + "".join(rects) + "</g>"
        )
    scored = [p for p in points if p.score is not None]
    best = max(scored, key=lambda p: p.score or 0, default=None)
    worst = min(scored, key=lambda p: p.score or 0, default=None)
    summary = f"{len(scored)} of {len(points)} questions scored" + (
        f"; highest {best.label} at {best.score}, lowest {worst.label} at {worst.score}." if best and worst else "."
    )
    title = "Score per question, by part"
    rows = tuple(
        (
            p.label,
            "skipped" if p.score is None else str(p.score),
            *(str(p.parts.get(name, "")) if p.score is not None else "" for name in PART_NAMES),
        )
        for p in points
    )
    headers = ("Question", "Score", *(f"{name.capitalize()} (of {PART_MAX[name]})" for name in PART_NAMES))
    legend = tuple((f"part-{name}", name.capitalize()) for name in PART_NAMES)
    return Chart("scores", title, summary, _svg("scores", height, body, title, summary), headers, rows, legend)


def pace_chart(points: Sequence[DeliveryPoint], slow: float, fast: float) -> Chart:
    """Words per minute per voice answer, against the band coaches give for interviews."""
    voiced = [p for p in points if p.wpm is not None]
    top = max([fast + 40, *(p.wpm or 0 for p in voiced)])
    plot_h = 170.0
    height = TOP + plot_h + 30
    plot_w = WIDTH - LEFT - RIGHT

    def y_of(wpm: float) -> float:
        return TOP + plot_h * (1 - min(wpm, top) / top)

    body = [
        f'<rect class="band" x="{LEFT}" y="{_num(y_of(fast))}" width="{plot_w}" '
        f'height="{_num(y_of(slow) - y_of(fast))}" data-low="{slow:g}" data-high="{fast:g}"/>',
        _text(WIDTH - RIGHT - 4, y_of(fast) + 14, f"{slow:g}–{fast:g} wpm", "band-label", "end"),
    ]
    for tick in range(0, int(top) + 1, 50):
        body.append(_text(LEFT - 8, y_of(tick) + 4, str(tick), "axis", "end"))
        body.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(y_of(tick))}" y2="{_num(y_of(tick))}"/>'
        )
    slot = plot_w / max(len(points), 1)
    bar = min(slot * 0.6, MAX_BAR)
    for n, point in enumerate(points):
        middle = LEFT + slot * (n + 0.5)
        x = middle - bar / 2
        body.append(_text(middle, height - 10, point.label, "axis", "middle"))
        if point.wpm is None:
            continue
        pace = "slow" if point.wpm < slow else "fast" if point.wpm > fast else "good"
        body.append(
            f'<rect class="pace-{pace}" x="{_num(x)}" y="{_num(y_of(point.wpm))}" width="{_num(bar)}" '
            f'height="{_num(TOP + plot_h - y_of(point.wpm))}" data-label="{escape(point.label)}" '
            f'data-wpm="{point.wpm:g}" data-pace="{pace}"><title>{escape(point.label)}: {point.wpm:.0f} words per '
            f"minute ({pace})</title></rect>"
        )
    outside = [p for p in voiced if not slow <= (p.wpm or 0) <= fast]
    if not voiced:
        summary = "No voice answers, so no pace to show."
    else:
        summary = (
            f"{len(voiced)} voice answers; {len(voiced) - len(outside)} within {slow:g}–{fast:g} words per minute"
            + (f", {', '.join(p.label for p in outside)} outside it." if outside else ".")
        )
    title = "Pace per answer"
    rows = tuple((p.label, f"{p.wpm:.0f}" if p.wpm is not None else "—") for p in points)
    legend = (
        ("band", f"Good pace, {slow:g}–{fast:g}"),
        ("pace-slow", "Slow"),
        ("pace-good", "Good"),
        ("pace-fast", "Fast"),
    )
    return Chart(
        "pace",
        title,
        summary,
        _svg("pace", height, body, title, summary),
        ("Question", "Words per minute"),
        rows,
        legend,
    )


def filler_chart(points: Sequence[DeliveryPoint]) -> Chart:
    """Fillers per 100 words and long pauses, side by side per voice answer."""
    top = max([4.0, *(p.fillers_per_100 or 0 for p in points), *(float(p.long_pauses or 0) for p in points)])
    plot_h = 140.0
    height = TOP + plot_h + 30
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / max(len(points), 1)

    def y_of(value: float) -> float:
        return TOP + plot_h * (1 - value / top)

    body = [
        f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(y_of(0))}" y2="{_num(y_of(0))}"/>',
        _text(LEFT - 8, y_of(top) + 10, f"{top:.0f}", "axis", "end"),
        _text(LEFT - 8, y_of(0) + 4, "0", "axis", "end"),
    ]
    bar = min(slot * 0.32, MAX_BAR / 2)
    for n, point in enumerate(points):
        middle = LEFT + slot * (n + 0.5)
        body.append(_text(middle, height - 10, point.label, "axis", "middle"))
        for x, css, value, name in (
            (middle - bar - 1, "fillers", point.fillers_per_100, "fillers_per_100"),
            (middle + 1, "pauses", point.long_pauses, "long_pauses"),
        ):
            if value is None:
                continue
            bar_h = TOP + plot_h - y_of(float(value))
            body.append(
                f'<rect class="{css}" x="{_num(x)}" y="{_num(y_of(float(value)))}" '
                f'width="{_num(bar)}" height="{_num(max(bar_h, 1))}" data-label="{escape(point.label)}" '
                f'data-{name.replace("_", "-")}="{value:g}"><title>{escape(point.label)}: {value:g} '
                f"{name.replace('_', ' ')}</title></rect>"
            )
    shown = [p for p in points if p.fillers_per_100 is not None or p.long_pauses is not None]
    worst = max(shown, key=lambda p: p.fillers_per_100 or 0, default=None)
    summary = (
        "No voice answers, so no fillers or pauses to count."
        if not shown
        else f"Most fillers in {worst.label}: {worst.fillers_per_100 or 0:g} per 100 words; "
        f"{sum(p.long_pauses or 0 for p in shown)} long pauses in all."
        if worst
        else ""
    )
    title = "Fillers and long pauses per answer"
    rows = tuple(
        (
            p.label,
            f"{p.fillers_per_100:g}" if p.fillers_per_100 is not None else "—",
            str(p.long_pauses) if p.long_pauses is not None else "—",
        )
        for p in points
    )
    legend = (("fillers", "Fillers per 100 words"), ("pauses", "Pauses of a second or more"))
    return Chart(
        "fillers",
        title,
        summary,
        _svg("fillers", height, body, title, summary),
        ("Question", "Fillers per 100 words", "Long pauses"),
        rows,
        legend,
    )


def timeline_chart(
    key: str,
    windows: Sequence[Window],
    pauses: Sequence[Moment],
    fillers: Sequence[Moment],
    duration: float,
    slow: float,
    fast: float,
) -> Chart:
    """One answer over time: pace per stretch against the band, with each long pause and filler where it fell.

    No tooltips here (there is one of these per answer, and the page must stay light): the table says the same, and
    the "hear it again" list names each moment."""
    end = max([duration, *(w.end for w in windows), *(p.at + p.seconds for p in pauses), 1.0])
    top = max([fast + 40, *(w.wpm for w in windows)])
    plot_h = 120.0
    marks_y = TOP + plot_h + 8
    height = marks_y + 40
    plot_w = WIDTH - LEFT - RIGHT

    def x_of(seconds: float) -> float:
        return LEFT + plot_w * min(seconds, end) / end

    def y_of(wpm: float) -> float:
        return TOP + plot_h * (1 - min(wpm, top) / top)

    body = [
        f'<rect class="band" x="{LEFT}" y="{_num(y_of(fast))}" width="{plot_w}" '
        f'height="{_num(y_of(slow) - y_of(fast))}" data-low="{slow:g}" data-high="{fast:g}"/>',
        _text(LEFT - 8, y_of(fast) + 4, f"{fast:g}", "axis", "end"),
        _text(LEFT - 8, y_of(slow) + 4, f"{slow:g}", "axis", "end"),
        f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(TOP + plot_h)}" y2="{_num(TOP + plot_h)}"/>',
    ]
    for window in windows:
        pace = window.pace or "unjudged"
        body.append(
            f'<rect class="pace-{pace}" x="{_num(x_of(window.start))}" y="{_num(y_of(window.wpm))}" '
            f'width="{_num(max(x_of(window.end) - x_of(window.start) - 1, 1))}" '
            f'height="{_num(TOP + plot_h - y_of(window.wpm))}" data-start="{window.start:g}" data-end="{window.end:g}" '
            f'data-wpm="{window.wpm:g}" data-pace="{pace}"/>'
        )
    for pause in pauses:
        body.append(
            f'<rect class="pause" x="{_num(x_of(pause.at))}" y="{_num(marks_y)}" '
            f'width="{_num(max(x_of(pause.at + pause.seconds) - x_of(pause.at), 2))}" height="10" '
            f'data-pause-at="{pause.at:g}" data-seconds="{pause.seconds:g}"/>'
        )
    for filler in fillers:
        body.append(
            f'<circle class="filler" cx="{_num(x_of(filler.at))}" cy="{_num(marks_y + 22)}" r="4" '
            f'data-filler-at="{filler.at:g}" data-word="{escape(filler.word)}"/>'
        )
    for tick in _ticks(end):
        body.append(_text(x_of(tick), height - 2, _clock(tick), "axis", "middle"))
    off = [w for w in windows if w.pace in ("slow", "fast")]
    parts = [f"{len(windows)} stretches of speech"]
    parts.append(
        "all judged within the band" if not off else f"{len(off)} off pace ({', '.join(_describe(w) for w in off)})"
    )
    parts.append(f"{len(pauses)} pauses of a second or more" if pauses else "no long pause")
    parts.append(f"{len(fillers)} fillers" if fillers else "no filler")
    summary = "; ".join(parts) + "."
    title = "Pace over the answer, with pauses and fillers"
    rows = tuple(
        (f"{_clock(w.start)}–{_clock(w.end)}", f"{w.wpm:.0f}", w.pace or "too short to judge") for w in windows
    )
    legend = (("band", f"{slow:g}–{fast:g} wpm"), ("pause", "Pause"), ("filler", "Filler"))
    return Chart(
        key,
        title,
        summary,
        _svg(key, height, body, title, summary),
        ("Stretch", "Words per minute", "Pace"),
        rows,
        legend,
    )


def trend_chart(
    key: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    unit: str,
    top: float | None = None,
    band: tuple[float, float] | None = None,
) -> Chart:
    """One figure across the candidate's interviews, oldest first: a line through the points it has."""
    present = [v for v in values if v is not None]
    ceiling = top if top is not None else max([*present, *(band or ()), 1.0]) * 1.15
    plot_h = 130.0
    height = TOP + plot_h + 30
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / max(len(values), 1)

    def y_of(value: float) -> float:
        return TOP + plot_h * (1 - min(value, ceiling) / ceiling)

    body = []
    if band is not None:
        body.append(
            f'<rect class="band" x="{LEFT}" y="{_num(y_of(band[1]))}" width="{plot_w}" '
            f'height="{_num(y_of(band[0]) - y_of(band[1]))}" data-low="{band[0]:g}" data-high="{band[1]:g}"/>'
        )
    body += [
        f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(y_of(0))}" y2="{_num(y_of(0))}"/>',
        _text(LEFT - 8, y_of(ceiling) + 10, f"{ceiling:.0f}", "axis", "end"),
        _text(LEFT - 8, y_of(0) + 4, "0", "axis", "end"),
    ]
    points = []
    for n, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = LEFT + slot * (n + 0.5)
        body.append(_text(x, height - 10, label, "axis", "middle"))
        if value is not None:
            points.append((x, y_of(value), label, value))
    if len(points) > 1:
        path = " ".join(f"{_num(x)},{_num(y)}" for x, y, _, _ in points)
        body.append(f'<polyline class="trend" points="{path}"/>')
    for x, y, label, value in points:
        body.append(
            f'<circle class="point" cx="{_num(x)}" cy="{_num(y)}" r="5" data-label="{escape(label)}" '
            f'data-value="{value:g}"><title>{escape(label)}: {value:g} {escape(unit)}</title></circle>'
        )
    if len(present) >= 2:
        change = present[-1] - present[0]
        summary = f"From {present[0]:g} to {present[-1]:g} {unit} over {len(present)} interviews ({change:+g})."
    elif present:
        summary = f"One interview so far: {present[0]:g} {unit}."
    else:
        summary = f"No {unit} measured yet."
    rows = tuple((label, f"{v:g}" if v is not None else "—") for label, v in zip(labels, values, strict=True))
    return Chart(key, title, summary, _svg(key, height, body, title, summary), ("Interview", unit.capitalize()), rows)


def _clock(seconds: float) -> str:
    total = max(0, round(seconds))
    return f"{total // 60}:{total % 60:02d}"


def _describe(window: Window) -> str:
    return f"{window.pace} at {_clock(window.start)}, {window.wpm:.0f} wpm"


def _ticks(end: float) -> list[float]:
    """A few round times along an answer: every 10 s, 30 s or minute, whichever gives at most 7."""
    step = next(s for s in (5, 10, 15, 30, 60, 120, 300, 600) if end / s <= 7)
    return [float(t) for t in range(0, int(end) + 1, step)]
