"""A scored file's drift report: one self-contained HTML page (``templates/drift_report.html.j2``).

Inline CSS and inline SVG only: no script, no font, no stylesheet and no image is loaded from
anywhere, so the page works on a machine with no network and leaks nothing when opened. It shows
the score's distribution and the most drifted model inputs (reference, i.e. the training data or
held-out scores, beside this file, bin by bin), then a table of every input's PSI and level.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from markupsafe import Markup

from scoring_assets.core.drift import FeatureDrift, FileDrift
from scoring_assets.core.reports.charts import bar_pairs
from scoring_assets.core.reports.pages import Badge, Table, write_page
from scoring_assets.core.reports.palette import level_colour
from scoring_assets.core.use_case import UseCase

CHARTED_FEATURES = 6
TEMPLATE = "drift_report.html.j2"


def write_drift_report(path: Path | str, use_case: UseCase, file_drift: FileDrift, title_lines: Sequence[str]) -> Path:
    """Write the report for ``file_drift`` to ``path`` atomically; ``title_lines`` say which file and model."""
    return write_page(path, TEMPLATE, **_context(use_case, file_drift, title_lines))


def _context(use_case: UseCase, file_drift: FileDrift, title_lines: Sequence[str]) -> dict[str, object]:
    most_drifted = file_drift.most_drifted(CHARTED_FEATURES)
    return {
        "use_case": use_case,
        "title_lines": [str(line) for line in title_lines],
        "drift": file_drift,
        "score": file_drift.score,
        "score_chart": bins_chart(file_drift.score),
        "most_drifted": most_drifted,
        "sections": [(file_drift.features[name], bins_chart(file_drift.features[name])) for name, _, _ in most_drifted],
        "every_input": every_input_table(file_drift),
    }


def bins_chart(feature: FeatureDrift) -> Markup:
    """Reference and batch shares per bin, plus a "missing" bin when either side has missing values."""
    labels = list(feature.labels)
    reference, batch = list(feature.reference_fractions), list(feature.batch_fractions)
    if feature.missing_share or feature.reference_missing_share:
        labels.append("missing")
        reference.append(feature.reference_missing_share)
        batch.append(feature.missing_share)
    title = f"{feature.name}: reference and this file per bin"
    return bar_pairs(title, labels, reference, batch, level_colour(feature.level))


def every_input_table(file_drift: FileDrift) -> Table:
    """Every model input, most drifted first, then the score: PSI, level, thresholds, summaries, missing shares."""
    ranked = sorted(file_drift.features.values(), key=lambda feature: (-feature.psi, feature.name))
    return Table(
        columns=(
            "model input",
            "kind",
            "PSI",
            "level",
            "warn / alert",
            "this file",
            "reference",
            "missing here",
            "missing in reference",
        ),
        rows=[
            (
                feature.name,
                feature.kind,
                f"{feature.psi:.4f}",
                Badge(feature.level),
                f"{feature.warn:g} / {feature.alert:g}",
                feature.batch_summary,
                feature.reference_summary,
                f"{feature.missing_share:.1%}",
                f"{feature.reference_missing_share:.1%}",
            )
            for feature in [*ranked, file_drift.score]
        ],
        numeric=frozenset({2, 4, 7, 8}),
    )
