"""Charts as self-contained SVG (no plotting library, no network): horizontal bars with
error bars, and a log-log scatter. Text is escaped; sizes are in pixels."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

FONT = (
    "system-ui, -apple-system, 'Segoe UI', 'Noto Sans', 'Noto Sans CJK SC', "
    "'WenQuanYi Zen Hei', 'PingFang SC', 'Microsoft YaHei', sans-serif"
)
INK, GRID, BAR, ACCENT = "#1f2933", "#d9e2ec", "#3b82f6", "#ef4444"


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    sd: float | None = None


@dataclass(frozen=True, slots=True)
class Point:
    label: str
    x: float
    y: float


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'font-family="{escape(FONT)}" font-size="12" fill="{INK}">'
        f'<rect width="100%" height="100%" fill="#ffffff"/>'
        f'<text x="{width / 2:.0f}" y="20" text-anchor="middle" font-size="14" '
        f'font-weight="600">{escape(title)}</text>' + "".join(body) + "</svg>"
    )


def _short(label: str, n: int = 34) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def _nice_max(v: float) -> float:
    if not math.isfinite(v) or v <= 0:  # an axis cannot reach infinity; views drop such values
        return 1.0
    mag = 10.0 ** math.floor(math.log10(v))
    for step in (1.0, 2.0, 2.5, 5.0):
        if v <= step * mag:
            return step * mag
    return 10.0 * mag


def bar_chart(bars: list[Bar], title: str, unit: str = "tok/s") -> str:
    """Horizontal bars (one per run) with ±sd whiskers."""
    left, right, top, row = 250, 70, 36, 26
    width = 760
    height = top + row * max(len(bars), 1) + 40
    plot_w = width - left - right
    vmax = _nice_max(max((b.value + (b.sd or 0) for b in bars), default=1.0))
    body: list[str] = []
    for i in range(6):  # grid and axis labels
        v = vmax * i / 5
        x = left + plot_w * i / 5
        body.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 34}" stroke="{GRID}"/>'
        )
        body.append(f'<text x="{x:.1f}" y="{height - 20}" text-anchor="middle">{v:g}</text>')
    body.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" '
        f'text-anchor="middle">{escape(unit)}</text>'
    )
    for i, b in enumerate(bars):
        y = top + i * row
        w = plot_w * max(b.value, 0) / vmax
        body.append(
            f'<text x="{left - 8}" y="{y + row / 2 + 4:.1f}" text-anchor="end">'
            f"<title>{escape(b.label)}</title>{escape(_short(b.label))}</text>"
        )
        body.append(
            f'<rect class="bar" x="{left}" y="{y + 4}" width="{w:.1f}" '
            f'height="{row - 8}" fill="{BAR}" rx="2"><title>{escape(b.label)}: '
            f"{b.value:.2f}{f' ± {b.sd:.2f}' if b.sd else ''} {escape(unit)}</title></rect>"
        )
        if b.sd:
            x1 = left + plot_w * max(b.value - b.sd, 0) / vmax
            x2 = left + plot_w * (b.value + b.sd) / vmax
            ym = y + row / 2
            body.append(
                f'<path class="errorbar" d="M{x1:.1f} {ym:.1f}H{x2:.1f}M{x1:.1f} '
                f'{ym - 5:.1f}V{ym + 5:.1f}M{x2:.1f} {ym - 5:.1f}V{ym + 5:.1f}" '
                f'stroke="{INK}" stroke-width="1.5"/>'
            )
        tx = left + plot_w * (b.value + (b.sd or 0)) / vmax + 6
        body.append(f'<text x="{tx:.1f}" y="{y + row / 2 + 4:.1f}">{b.value:.1f}</text>')
    return _svg(width, height, body, title)


def _decades(lo: float, hi: float) -> list[float]:
    return [10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)]


def _si(v: float) -> str:
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"


LABEL_CHAR_W, LABEL_H = 6.2, 12.0  # 11 px sans-serif, roughly


def place_labels(
    anchors: list[tuple[float, float]],
    labels: list[str],
    frame: tuple[float, float, float, float],
) -> list[tuple[float, float, str] | None]:
    """Where each point's label goes (x, baseline y, text-anchor) so that no two labels
    overlap and none leaves the frame (left, top, width, height): beside its point,
    else shifted down in steps; None when there is no room."""
    _left, top, width, height = frame
    placed: list[tuple[float, float, float, float]] = []
    out: list[tuple[float, float, str] | None] = []
    for (x, y), label in zip(anchors, labels, strict=True):
        w = LABEL_CHAR_W * len(label)
        spot = None
        for dy in (-6, 14, -20, 28, -34, 42, -48, 56):
            for dx, anchor in ((8, "start"), (-8, "end")):
                x0 = x + dx if anchor == "start" else x + dx - w
                box = (x0, y + dy - LABEL_H + 2, x0 + w, y + dy + 2)
                inside = box[0] >= 0 and box[2] <= width and box[1] >= top / 2 and box[3] <= height
                if inside and not any(_overlap(box, b) for b in placed):
                    spot = (x + dx, y + dy, anchor)
                    placed.append(box)
                    break
            if spot is not None:
                break
        out.append(spot)
    return out


# Pieces every plot with axes shares (the scatter plots and the line chart).
def _axis_titles(
    x_label: str, y_label: str, left: float, top: float, pw: float, ph: float, height: int
) -> str:
    return (
        f'<text x="{left + pw / 2:.0f}" y="{height - 12}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="16" y="{top + ph / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {top + ph / 2:.0f})">{escape(y_label)}</text>'
    )


def _linear_grid(
    px: Callable[[float], float],
    py: Callable[[float], float],
    xmax: float,
    ymax: float,
    left: float,
    top: float,
    pw: float,
    ph: float,
) -> list[str]:
    """Six grid lines and ticks on each linear axis, from zero to its maximum."""
    out = []
    for i in range(6):
        x, y = xmax * i / 5, ymax * i / 5
        out.append(
            f'<line x1="{px(x):.1f}" y1="{top}" x2="{px(x):.1f}" y2="{top + ph}" '
            f'stroke="{GRID}"/><text x="{px(x):.1f}" y="{top + ph + 16}" '
            f'text-anchor="middle">{x:g}</text>'
            f'<line x1="{left}" y1="{py(y):.1f}" x2="{left + pw}" y2="{py(y):.1f}" '
            f'stroke="{GRID}"/><text x="{left - 6}" y="{py(y) + 4:.1f}" '
            f'text-anchor="end">{y:.3g}</text>'
        )
    return out


def _label(spot: tuple[float, float, str] | None, label: str) -> list[str]:
    """A point's label where `place_labels` found room; none where it did not (the point's
    tooltip still names it)."""
    if spot is None:
        return []
    x, y, anchor = spot
    return [
        f'<text class="label" x="{x:.1f}" y="{y:.1f}" font-size="11" '
        f'text-anchor="{anchor}">{escape(label)}</text>'
    ]


def _nothing(width: int, height: int, text: str) -> str:
    return f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">{escape(text)}</text>'


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def scatter_loglog(points: list[Point], title: str, x_label: str, y_label: str) -> str:
    """Decode speed against model size, both on log axes (the seed's 1.5B-671B picture)."""
    width, height = 760, 420
    left, right, top, bottom = 70, 30, 36, 56
    pts = [p for p in points if p.x > 0 and p.y > 0]
    xs = _decades(min((p.x for p in pts), default=1e8), max((p.x for p in pts), default=1e9))
    ys = _decades(min((p.y for p in pts), default=1.0), max((p.y for p in pts), default=10.0))
    if len(xs) < 2:
        xs = [xs[0], xs[0] * 10]
    if len(ys) < 2:
        ys = [ys[0], ys[0] * 10]
    lx0, lx1 = math.log10(xs[0]), math.log10(xs[-1])
    ly0, ly1 = math.log10(ys[0]), math.log10(ys[-1])
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + pw * (math.log10(x) - lx0) / (lx1 - lx0)

    def py(y: float) -> float:
        return top + ph * (1 - (math.log10(y) - ly0) / (ly1 - ly0))

    body = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="{GRID}"/>']
    for x in xs:
        body.append(
            f'<line x1="{px(x):.1f}" y1="{top}" x2="{px(x):.1f}" y2="{top + ph}" '
            f'stroke="{GRID}"/><text x="{px(x):.1f}" y="{top + ph + 16}" '
            f'text-anchor="middle">{_si(x)}</text>'
        )
    for y in ys:
        body.append(
            f'<line x1="{left}" y1="{py(y):.1f}" x2="{left + pw}" y2="{py(y):.1f}" '
            f'stroke="{GRID}"/><text x="{left - 6}" y="{py(y) + 4:.1f}" '
            f'text-anchor="end">{y:g}</text>'
        )
    body.append(_axis_titles(x_label, y_label, left, top, pw, ph, height))
    labels = [_short(p.label, 28) for p in pts]
    spots = place_labels([(px(p.x), py(p.y)) for p in pts], labels, (left, top, width, height))
    for p, label, spot in zip(pts, labels, spots, strict=True):
        body.append(
            f'<circle class="point" cx="{px(p.x):.1f}" cy="{py(p.y):.1f}" r="5" '
            f'fill="{ACCENT}" fill-opacity="0.8"><title>{escape(p.label)}: '
            f"{p.y:.2f} at {_si(p.x)}</title></circle>"
        )
        body += _label(spot, label)
    if not pts:
        body.append(_nothing(width, height, "no run with a known model size"))
    return _svg(width, height, body, title)


def line_chart(
    points: list[tuple[float, float, float | None, float | None]],
    title: str,
    x_label: str,
    y_label: str,
) -> str:
    """Points (x, y, y_low, y_high) joined by a line, with interval whiskers: e.g. decode
    speed against threads."""
    width, height = 760, 360
    left, right, top, bottom = 70, 30, 36, 56
    pw, ph = width - left - right, height - top - bottom
    pts = sorted(points)
    xmax = max((p[0] for p in pts), default=1.0)
    ymax = _nice_max(max((max(p[1], p[3] or 0.0) for p in pts), default=1.0))

    def px(x: float) -> float:
        return left + pw * x / xmax if xmax else left

    def py(y: float) -> float:
        return top + ph * (1 - max(y, 0.0) / ymax)

    body = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="{GRID}"/>']
    for i in range(6):
        y = ymax * i / 5
        body.append(
            f'<line x1="{left}" y1="{py(y):.1f}" x2="{left + pw}" y2="{py(y):.1f}" '
            f'stroke="{GRID}"/><text x="{left - 6}" y="{py(y) + 4:.1f}" '
            f'text-anchor="end">{y:g}</text>'
        )
    for x, *_ in pts:
        body.append(f'<text x="{px(x):.1f}" y="{top + ph + 16}" text-anchor="middle">{x:g}</text>')
    body.append(_axis_titles(x_label, y_label, left, top, pw, ph, height))
    if len(pts) > 1:
        path = " ".join(f"{'M' if i == 0 else 'L'}{px(x):.1f} {py(y):.1f}" for i, (x, y, *_) in
                        enumerate(pts))  # fmt: skip
        body.append(f'<path class="line" d="{path}" fill="none" stroke="{BAR}" stroke-width="2"/>')
    for x, y, lo, hi in pts:
        if lo is not None and hi is not None:
            body.append(
                f'<path class="errorbar" d="M{px(x):.1f} {py(lo):.1f}V{py(hi):.1f}" '
                f'stroke="{INK}" stroke-width="1.5"/>'
            )
        body.append(
            f'<circle class="point" cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{ACCENT}">'
            f"<title>{x:g}: {y:.2f}</title></circle>"
        )
    if not pts:
        body.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no points</text>')
    return _svg(width, height, body, title)


def pareto_front(points: list[Point]) -> list[Point]:
    """The points no other point beats on both axes, for x higher-is-better and y
    lower-is-better (tok/s against KLD), by x ascending."""
    front: list[Point] = []
    best_y = math.inf
    for p in sorted(points, key=lambda p: (-p.x, p.y)):
        if p.y < best_y:
            front.append(p)
            best_y = p.y
    return front[::-1]


def scatter_linear(
    points: list[Point],
    title: str,
    x_label: str,
    y_label: str,
    empty: str,
    *,
    pareto: bool = False,
) -> str:
    """Points on linear axes from zero; `empty` is what to say when there is nothing to
    plot. With `pareto` (x higher-is-better, y lower-is-better: decode tok/s against KLD)
    the Pareto front is drawn as a dashed line through its points, which are ringed, and
    a point's tooltip says whether it is on the front."""
    width, height = 760, 420
    left, right, top, bottom = 70, 30, 36, 56
    pts = [p for p in points if p.x >= 0 and p.y >= 0 and math.isfinite(p.x + p.y)]
    xmax = _nice_max(max((p.x for p in pts), default=1.0) * 1.1)
    ymax = _nice_max(max((p.y for p in pts), default=1.0) * 1.1)
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + pw * x / xmax

    def py(y: float) -> float:
        return top + ph * (1 - y / ymax)

    body = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="{GRID}"/>']
    body += _linear_grid(px, py, xmax, ymax, left, top, pw, ph)
    body.append(_axis_titles(x_label, y_label, left, top, pw, ph, height))
    front = pareto_front(pts) if pareto else []
    if len(front) > 1:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{px(p.x):.1f} {py(p.y):.1f}" for i, p in enumerate(front)
        )
        body.append(
            f'<path class="pareto" d="{path}" fill="none" stroke="{BAR}" stroke-width="1.5" '
            f'stroke-dasharray="5 4"><title>Pareto front</title></path>'
        )
    on_front = {id(p) for p in front}
    labels = [_short(p.label, 28) for p in pts]
    spots = place_labels([(px(p.x), py(p.y)) for p in pts], labels, (left, top, width, height))
    for p, label, spot in zip(pts, labels, spots, strict=True):
        best = id(p) in on_front
        ring = f' stroke="{INK}" stroke-width="2"' if best else ""
        tag = ", on the Pareto front" if best else ""
        body.append(
            f'<circle class="{"point front" if best else "point"}" cx="{px(p.x):.1f}" '
            f'cy="{py(p.y):.1f}" r="5" fill="{ACCENT}" fill-opacity="0.8"{ring}>'
            f"<title>{escape(p.label)}: {p.y:.4g} at {p.x:.3g}{tag}</title></circle>"
        )
        body += _label(spot, label)
    if not pts:
        body.append(_nothing(width, height, empty))
    return _svg(width, height, body, title)




@dataclass(frozen=True, slots=True)
class IntervalPoint:
    label: str
    x: float
    y: float
    y_low: float
    y_high: float


def interval_scatter(points: list[IntervalPoint], title: str, x_label: str, y_label: str) -> str:
    """Points with vertical interval bars, x from zero, y a percentage (0-100): accuracy with
    its 95 % interval against speed, one point per model or quant."""
    width, height = 760, 420
    left, right, top, bottom = 70, 30, 36, 56
    pts = [p for p in points if p.x >= 0 and math.isfinite(p.x + p.y + p.y_low + p.y_high)]
    xmax = _nice_max(max((p.x for p in pts), default=1.0) * 1.15)
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + pw * x / xmax

    def py(y: float) -> float:
        return top + ph * (1 - min(max(y, 0.0), 100.0) / 100)

    body = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="{GRID}"/>']
    body += _linear_grid(px, py, xmax, 100.0, left, top, pw, ph)
    body.append(_axis_titles(x_label, y_label, left, top, pw, ph, height))
    labels = [_short(p.label, 28) for p in pts]
    spots = place_labels([(px(p.x), py(p.y)) for p in pts], labels, (left, top, width, height))
    for p, label, spot in zip(pts, labels, spots, strict=True):
        x = px(p.x)
        body.append(
            f'<line class="interval" x1="{x:.1f}" y1="{py(p.y_low):.1f}" x2="{x:.1f}" '
            f'y2="{py(p.y_high):.1f}" stroke="{ACCENT}" stroke-width="2"/>'
            f'<circle class="point" cx="{x:.1f}" cy="{py(p.y):.1f}" r="5" fill="{ACCENT}">'
            f"<title>{escape(p.label)}: {p.y:.1f} % (95 % interval {p.y_low:.1f}–"
            f"{p.y_high:.1f}) at {p.x:.3g}</title></circle>"
        )
        body += _label(spot, label)
    if not pts:
        body.append(_nothing(width, height, "no eval run with a measured speed"))
    return _svg(width, height, body, title)
