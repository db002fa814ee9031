"""HTML pages from the Jinja2 templates shipped in ``templates/``: autoescaped, offline, deterministic.

Every value a template prints is escaped (a column or use case named ``<script>`` is shown as
text); charts come in as ``Markup`` from ``charts``, already escaped. The shared layout
(``base.html.j2``) names no external resource, and pages carry no timestamp of their own: the
same inputs render the same bytes. ``Table`` and ``Badge`` are the generic pieces a new page
(a gate table with a verdict, an index of files) needs besides its template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from scoring_assets.core.files import atomic_path
from scoring_assets.core.reports import palette
from scoring_assets.core.reports.charts import swatch


@dataclass(frozen=True)
class Badge:
    """A level shown as a coloured label (``ok``, ``warn``, ``alert``); ``text`` replaces its name, e.g. a verdict."""

    level: str
    text: str | None = None


@dataclass(frozen=True)
class Table:
    """Rows of cells under column titles; a cell is text or a ``Badge``, None shows as "-".

    Cells are formatted by the caller (a fixed number of decimals), so a page never prints float
    noise; columns listed in ``numeric`` are right-aligned.
    """

    columns: Sequence[str]
    rows: Sequence[Sequence[str | Badge | None]]
    numeric: frozenset[int] = field(default_factory=frozenset)


@cache
def environment() -> jinja2.Environment:
    """The templates of this package, with autoescaping on for every one of them whatever its name."""
    templates = jinja2.Environment(
        loader=jinja2.PackageLoader("scoring_assets.core.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    templates.globals.update(palette=palette, swatch=swatch, Badge=Badge)
    templates.filters["fmt"] = format
    templates.tests["badge"] = lambda value: isinstance(value, Badge)
    return templates


def render_page(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def write_page(path: Path | str, template: str, **context: Any) -> Path:
    """Render ``template`` into ``path`` atomically (a reader never sees half a page); returns ``path``."""
    path = Path(path)
    page = render_page(template, **context)
    with atomic_path(path) as temporary:
        temporary.write_text(page, encoding="utf-8", newline="\n")
    return path
