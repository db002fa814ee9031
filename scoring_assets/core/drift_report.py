"""A scored file's drift report: one self-contained HTML page, readable offline.

Inline CSS and inline SVG bar charts only: no script, no font, no stylesheet and no image is
loaded from anywhere, so the page works on a machine with no network and leaks nothing when
opened. It shows the score's distribution and the most drifted model inputs (reference, i.e. the
training data or held-out scores, beside this file, bin by bin), then a table of every input's
PSI and level.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from scoring_assets.core.drift import FeatureDrift, FileDrift
from scoring_assets.core.files import atomic_path
from scoring_assets.core.use_case import UseCase

CHARTED_FEATURES = 6
LEVEL_COLOURS = {"ok": "#2e7d32", "warn": "#ef6c00", "alert": "#c62828"}
REFERENCE_COLOUR = "#9e9e9e"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #212121; max-width: 72em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
p.about { margin: 0.2em 0; color: #424242; }
.level { font-weight: 600; padding: 0 0.4em; border-radius: 0.3em; color: #fff; }
.ok { background: #2e7d32; } .warn { background: #ef6c00; } .alert { background: #c62828; }
table { border-collapse: collapse; margin-top: 0.6em; }
th, td { border-bottom: 1px solid #e0e0e0; padding: 0.25em 0.8em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.chart { margin: 0.4em 0 1.2em 0; }
.legend { font-size: 0.9em; color: #424242; }
"""


def write_drift_report(path: Path | str, use_case: UseCase, file_drift: FileDrift, title_lines: Sequence[str]) -> Path:
    """Write the report for ``file_drift`` to ``path`` atomically; ``title_lines`` say which file and model."""
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_text(drift_report_html(use_case, file_drift, title_lines), encoding="utf-8")
    return path


def drift_report_html(use_case: UseCase, file_drift: FileDrift, title_lines: Sequence[str]) -> str:
    score = file_drift.score
    most = file_drift.most_drifted(CHARTED_FEATURES)
    thresholds = file_drift.thresholds
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Drift report: {escape(use_case.name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Drift report: {escape(use_case.title)}</h1>",
        *(f'<p class="about">{escape(str(line))}</p>' for line in title_lines),
        f'<p class="about">{file_drift.rows:,} rows. Model inputs: {_badge(file_drift.input_level)} '
        f"Score: {_badge(score.level)}</p>",
        "<p>PSI (population stability index) compares this file with the training reference bin by bin: "
        "0 means the same distribution; "
        f"<b>warn</b> from {thresholds.warn:g}, <b>alert</b> from {thresholds.alert:g} by default "
        "(rules of thumb; a use case may set its own, per input). Numeric bins are the deciles of the training "
        "data, categorical bins the declared levels. Drift never stops scoring: it says how far the file is "
        "from the data the model learned from.</p>",
        f'<p class="legend">{_swatch(REFERENCE_COLOUR)} reference (training data; held-out scores for the score) '
        f"&nbsp; {_swatch(LEVEL_COLOURS['ok'])} this file (coloured by its level)</p>",
        f"<h2>Score ({escape(use_case.score_column)}): PSI {score.psi:.3f} {_badge(score.level)}</h2>",
        f'<p class="about">Share at or above the threshold: {score.share_at_or_above_threshold or 0:.1%} here, '
        f"{score.reference_share_at_or_above_threshold or 0:.1%} on held-out data. Mean score: "
        f"{_mean(score.batch_mean)} here, {_mean(score.ref_mean)} on held-out data.</p>",
        _chart(score),
        "<h2>Most drifted model inputs</h2>",
        f"<p>{', '.join(f'{escape(name)} ({value:.3f}, {lvl})' for name, value, lvl in most) or 'none'}</p>",
    ]
    for name, _, _ in most:
        feature = file_drift.features[name]
        parts += [
            f"<h2>{escape(name)}: PSI {feature.psi:.3f} {_badge(feature.level)}</h2>",
            f'<p class="about">Here: {escape(feature.batch_summary)}; reference: {escape(feature.reference_summary)}'
            f"{_missing_note(feature)}</p>",
            _chart(feature),
        ]
    parts += ["<h2>Every model input</h2>", _table(file_drift), "</body></html>", ""]
    return "\n".join(parts)


def _mean(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"


def _badge(level: str) -> str:
    return f'<span class="level {escape(level)}">{escape(level)}</span>'


def _swatch(colour: str) -> str:
    return f'<svg width="12" height="12" role="img"><rect width="12" height="12" fill="{colour}"/></svg>'


def _missing_note(feature: FeatureDrift) -> str:
    if not feature.missing_share and not feature.reference_missing_share:
        return ""
    return f"; missing {feature.missing_share:.1%} here, {feature.reference_missing_share:.1%} in the reference"


def _chart(feature: FeatureDrift) -> str:
    """Reference and batch fractions side by side per bin, as an inline SVG (no external reference)."""
    labels = list(feature.labels)
    reference, batch = list(feature.reference_fractions), list(feature.batch_fractions)
    if feature.missing_share or feature.reference_missing_share:
        labels.append("missing")
        reference.append(feature.reference_missing_share)
        batch.append(feature.missing_share)
    bins = len(labels)
    slot, left, top, plot_height, label_space = 56, 48, 12, 160, 90
    width, height = left + slot * bins + 12, top + plot_height + label_space
    highest = max([*reference, *batch, 0.01])
    colour = LEVEL_COLOURS.get(feature.level, LEVEL_COLOURS["ok"])
    shapes = []
    for tick in (0.0, 0.5, 1.0):
        y = top + plot_height * (1 - tick)
        shapes.append(f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e0e0e0"/>')
        shapes.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{tick * highest:.0%}</text>'
        )
    for index, label in enumerate(labels):
        x = left + slot * index + 6
        for offset, value, fill, who in (
            (0, reference[index], REFERENCE_COLOUR, "reference"),
            (22, batch[index], colour, "this file"),
        ):
            bar = plot_height * value / highest
            shapes.append(
                f'<rect x="{x + offset}" y="{top + plot_height - bar:.1f}" width="20" height="{bar:.1f}" '
                f'fill="{fill}"><title>{escape(label)}: {value:.1%} ({who})</title></rect>'
            )
        label_x, label_y = x + 21, top + plot_height + 12
        shapes.append(
            f'<text x="{label_x}" y="{label_y}" font-size="10" text-anchor="end" '
            f'transform="rotate(-35 {label_x} {label_y})">{escape(_short(label))}</text>'
        )
    return (
        f'<div class="chart"><svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(feature.name)}: reference and this file per bin">{"".join(shapes)}</svg></div>'
    )


def _short(label: str, limit: int = 22) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


def _table(file_drift: FileDrift) -> str:
    rows = [
        "<table><thead><tr><th>model input</th><th>kind</th><th>PSI</th><th>level</th><th>warn / alert</th>"
        "<th>this file</th><th>reference</th><th>missing here</th><th>missing in reference</th></tr></thead><tbody>"
    ]
    ranked = sorted(file_drift.features.values(), key=lambda feature: (-feature.psi, feature.name))
    for feature in [*ranked, file_drift.score]:
        rows.append(
            f"<tr><td>{escape(feature.name)}</td><td>{escape(feature.kind)}</td>"
            f'<td class="number">{feature.psi:.4f}</td><td>{_badge(feature.level)}</td>'
            f'<td class="number">{feature.warn:g} / {feature.alert:g}</td>'
            f"<td>{escape(feature.batch_summary)}</td><td>{escape(feature.reference_summary)}</td>"
            f'<td class="number">{feature.missing_share:.1%}</td>'
            f'<td class="number">{feature.reference_missing_share:.1%}</td></tr>'
        )
    rows.append("</tbody></table>")
    return "".join(rows)
