"""Charts as files, for people who post images: SVG always, PNG through cairosvg."""

from __future__ import annotations

from pathlib import Path

from tokbench.errors import TokbenchError
from tokbench.render.safe import shown


def write_charts(folder: Path, charts: dict[str, str]) -> list[Path]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TokbenchError(f"cannot create {folder}: {exc}") from exc
    charts = {name: shown(svg) for name, svg in charts.items()}  # labels are foreign text
    written = []
    for name, svg in charts.items():
        path = folder / f"{name}.svg"
        path.write_text(svg, "utf-8")
        written.append(path)
    try:
        import cairosvg  # needs the cairo library (present on most desktops)
    except (ImportError, OSError) as exc:
        raise TokbenchError(
            f"SVG charts written to {folder}; PNG needs cairosvg and the cairo library "
            f"(pip install 'tokbench[png]'): {exc}"
        ) from exc
    for name, svg in charts.items():
        path = folder / f"{name}.png"
        cairosvg.svg2png(bytestring=svg.encode("utf-8"), write_to=str(path), scale=2)
        written.append(path)
    return written
