"""A scored file's run writes no more Dagster events than recorded: each event costs ~9 ms of the run's CPU.

Issue 25 measured ~63 events per run at ~9 ms each, a third of a small file's Dagster tax. This
guard keeps a change from adding events unnoticed (a new step, a check reported apart from its
materialization, per-row log lines); lower the figure when a change saves events.
"""

from __future__ import annotations

from collections import Counter

from tests.support.batches import valid_rows, write_csv
from tests.support.model_roots import built_model
from tests.support.scoring_runs import score_file

# recorded 2026-12-06: 5 steps, 5 materializations, 12 checks, planning and run events (reason codes' check: +3)
EVENTS_PER_SCORED_FILE = 70


def test_a_scored_file_writes_no_more_events_than_recorded(instance, folders, use_case, tmp_path):
    built_model(use_case)
    source = write_csv(valid_rows(use_case, 60), tmp_path / "inbox" / "batch.csv")
    _, result = score_file(instance, folders, source, use_case=use_case)

    assert result.success
    records = instance.get_records_for_run(result.run_id, limit=10_000).records
    kinds = Counter(str(record.event_log_entry.dagster_event_type) for record in records)
    assert len(records) <= EVENTS_PER_SCORED_FILE, f"{len(records)} events: {dict(kinds)}"
