"""The trend of a use case's recent scored files as one self-contained HTML page (``templates/trend_report.html.j2``).

Written by the monitoring asset after each scored file (records from ``core.monitoring``):
line charts of PSI per file for the score and the most drifted inputs (with the warn and alert
levels as dashed lines), the score mean and the share at or above the threshold, the reject
rate, the backtest precision and recall (files with labels) and the realized ones (outcomes
registered later, ``core.realized_performance``) beside the precision and recall expected from
the calibrated scores, then a table of the files. Charts are inline SVG and the
page names no external resource, so it opens offline, from a mail attachment or an archive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import Markup

from scoring_assets.core.monitoring import at_alert
from scoring_assets.core.reports.charts import Level, Series, line_chart
from scoring_assets.core.reports.pages import Badge, Table, write_page
from scoring_assets.core.reports.palette import LEVEL_COLOURS, series_colour
from scoring_assets.core.use_case import UseCase

DRIFTED_INPUTS_CHARTED = 5
TABLE_COLUMNS = (  # (title, record key); the first column numbers the files as the charts do
    ("#", None),
    ("partition", "partition"),
    ("scored at (UTC)", "scored_at"),
    ("rows in", "rows_in"),
    ("scored", "rows_scored"),
    ("reject rate", "reject_rate"),
    ("mean score", "score_mean"),
    ("share >= threshold", "share_at_or_above_threshold"),
    ("input drift", "input_level"),
    ("most drifted input", "most_drifted_feature"),
    ("its PSI", "max_input_psi"),
    ("score PSI", "score_psi"),
    ("score drift", "score_level"),
    ("backtest precision", "backtest_precision"),
    ("expected precision", "expected_precision"),
    ("backtest recall", "backtest_recall"),
    ("expected recall", "expected_recall"),
    ("ROC AUC", "backtest_roc_auc"),
    ("realized precision", "realized_precision"),
    ("realized recall", "realized_recall"),
    ("realized ROC AUC", "realized_roc_auc"),
)
LEVEL_COLUMNS = frozenset({"input_level", "score_level"})
TEXT_COLUMNS = frozenset({"partition", "scored_at", "most_drifted_feature", *LEVEL_COLUMNS})


def write_trend_report(path: Path, use_case: UseCase, records: list[dict[str, Any]]) -> Path:
    """Write the report for ``records`` (oldest first) to ``path`` atomically; returns ``path``."""
    return write_page(
        path,
        "trend_report.html.j2",
        use_case=use_case,
        thresholds=use_case.drift_thresholds,
        alerts=sum(at_alert(record) for record in records),
        charts=trend_charts(use_case, records) if records else [],
        files=files_table(records),
    )


def trend_charts(use_case: UseCase, records: list[dict[str, Any]]) -> list[Markup]:
    """PSI (score and the most drifted inputs), score, rejects, and precision / recall per file."""
    thresholds = use_case.drift_thresholds
    drifted = sorted(
        {name for record in records for name in record["psi"]},
        key=lambda name: -max(record["psi"].get(name, 0.0) for record in records),
    )[:DRIFTED_INPUTS_CHARTED]
    psi_series = [Series("score", _column(records, "score_psi"), series_colour(0))] + [
        Series(name, [record["psi"].get(name) for record in records], series_colour(1 + index))
        for index, name in enumerate(drifted)
    ]
    levels = [
        Level("warn", thresholds.warn, LEVEL_COLOURS["warn"]),
        Level("alert", thresholds.alert, LEVEL_COLOURS["alert"]),
    ]
    return [
        line_chart("Drift from the training reference (PSI, square-root scale)", psi_series, levels, root_scale=True),
        line_chart(
            "Score",
            [
                Series("mean score", _column(records, "score_mean"), series_colour(0)),
                Series(
                    "share at or above threshold", _column(records, "share_at_or_above_threshold"), series_colour(1)
                ),
                Series(
                    "reference share", _column(records, "reference_share_at_or_above_threshold"), series_colour(1), True
                ),
            ],
            y_max=1.0,
        ),
        line_chart("Rejected rows", [Series("share of the input", _column(records, "reject_rate"), series_colour(0))]),
        line_chart(
            "Precision and recall at the threshold; ROC AUC where files carried labels",
            [
                Series("backtest ROC AUC", _column(records, "backtest_roc_auc"), series_colour(3)),
                Series("backtest precision", _column(records, "backtest_precision"), series_colour(0)),
                Series("expected precision", _column(records, "expected_precision"), series_colour(0), True),
                Series("backtest recall", _column(records, "backtest_recall"), series_colour(2)),
                Series("expected recall", _column(records, "expected_recall"), series_colour(2), True),
                *realized_series(records),
            ],
            y_max=1.0,
        ),
    ]


def realized_series(records: list[dict[str, Any]]) -> list[Series]:
    """Realized precision and recall (from outcomes registered after scoring), only when some file has outcomes."""
    if all(record.get("realized_precision") is None for record in records):
        return []
    return [
        Series("realized precision", _column(records, "realized_precision"), series_colour(4)),
        Series("realized recall", _column(records, "realized_recall"), series_colour(5)),
    ]


def files_table(records: list[dict[str, Any]]) -> Table:
    """One row per file, numbered as on the charts' horizontal axis; drift levels as badges."""
    rows = [
        [str(number), *(_cell(key, record.get(key)) for _, key in TABLE_COLUMNS[1:])]
        for number, record in enumerate(records, start=1)
    ]
    numeric = frozenset(index for index, (_, key) in enumerate(TABLE_COLUMNS) if key not in TEXT_COLUMNS)
    return Table(columns=[title for title, _ in TABLE_COLUMNS], rows=rows, numeric=numeric)


def _cell(key: str, value: Any) -> str | Badge | None:
    """A record's figure as shown: None as "-", floats to three decimals, drift levels as badges."""
    if value is None:
        return None
    if key in LEVEL_COLUMNS:
        return Badge(str(value))
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _column(records: list[dict[str, Any]], key: str) -> list[float | None]:
    return [None if record.get(key) is None else float(record[key]) for record in records]
