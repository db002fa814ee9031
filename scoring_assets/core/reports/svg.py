"""SVG elements as text with fixed number formatting: the same figure always gives the same bytes.

Every coordinate is written at a tenth of a pixel, so float noise in the data never reaches the
output, and a coordinate that is not finite is refused here rather than drawn as ``nan``. Text
and attribute values are escaped, so a column named ``<script>`` is shown, never run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from markupsafe import Markup, escape

from scoring_assets.core.reports.palette import INK

SVG_NAMESPACE = "http://www.w3.org/2000/svg"


def number(value: float) -> str:
    """A coordinate or size as text: one decimal, no negative zero; NaN and infinity are a bug, refused."""
    if not math.isfinite(value):
        raise ValueError(f"an SVG coordinate must be finite, got {value!r}")
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def element(tag: str, content: str | None = None, **attributes: object) -> str:
    """``<tag name="value" ...>``; ``content`` is markup (already escaped or built here), None an empty element."""
    opening = f"<{tag}{attribute_text(**attributes)}"
    return f"{opening}/>" if content is None else f"{opening}>{content}</{tag}>"


def attribute_text(**attributes: object) -> str:
    """`` name="value"`` each: floats as ``number``, others escaped, None left out; ``font_size`` is ``font-size``."""
    return "".join(
        f' {name.replace("_", "-")}="{number(value) if isinstance(value, float) else escape(str(value))}"'
        for name, value in attributes.items()
        if value is not None
    )


def text(x: float, y: float, content: str, anchor: str = "middle", **attributes: object) -> str:
    return element("text", str(escape(content)), x=float(x), y=float(y), text_anchor=anchor, **attributes)


def stroke(colour: str, width: float | None = None, dashed: bool = False) -> dict[str, object]:
    """The attributes of a drawn line; dashed lines are references and levels, solid ones data."""
    return {
        "stroke": colour,
        "stroke_width": None if width is None else f"{width:g}",
        "stroke_dasharray": "6 4" if dashed else None,
    }


def line(x1: float, y1: float, x2: float, y2: float, style: dict[str, object]) -> str:
    return element("line", x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2), **style)


def polyline(points: Iterable[tuple[float, float]], style: dict[str, object]) -> str:
    """A line through ``points``; consecutive points that print the same are written once."""
    written: list[str] = []
    for x, y in points:
        point = f"{number(x)},{number(y)}"
        if not written or written[-1] != point:
            written.append(point)
    return element("polyline", points=" ".join(written), fill="none", **style)


def document(
    width: int, height: int, body: Sequence[str], label: str | None, standalone: bool = False, **attributes: object
) -> Markup:
    """The ``<svg>`` element around ``body``; ``label`` names it for screen readers (None: decoration).

    ``standalone`` adds the SVG namespace, which an image file needs and an HTML page does not
    (inline SVG in HTML gets it implicitly, and a page then names no address at all).
    """
    opening = attribute_text(
        xmlns=SVG_NAMESPACE if standalone else None,
        width=width,
        height=height,
        viewBox=f"0 0 {width} {height}",
        font_family="sans-serif",
        fill=INK,
        role="img",
        aria_label=label,
        **attributes,
    )
    return Markup("\n".join([f"<svg{opening}>", *body, "</svg>"]))
