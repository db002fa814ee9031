"""The code location: every declared use case, each with its own assets, jobs, sensors and schedule.

For each use case in ``scoring_assets.use_cases`` the same graph (model -> raw_batch ->
validated_batch -> feature_matrix -> scores + scoring_manifest, keyed ``[use case, asset]`` and
grouped by use case) over its own dynamic partitions, plus the shared inbox router, with the
resources of ``defs/resources.py``. ``dg dev`` loads it through the defs folder; the CLI runs
its jobs directly (``scoring_assets.runs``), so both run the very same job definitions.
"""

from __future__ import annotations

from functools import cache

import dagster as dg

from scoring_assets.builders.use_case_definitions import build_shared_inbox_definitions, build_use_case_definitions
from scoring_assets.defs.resources import scoring_resources
from scoring_assets.settings import inbox_interval_seconds
from scoring_assets.use_cases import all_use_cases, report_broken_use_cases


@cache
def scoring_definitions() -> dg.Definitions:
    """The whole code location: every use case, the shared inbox and its router, the resources."""
    use_cases = list(all_use_cases().values())
    report_broken_use_cases()  # on stderr, which dg check defs and dg dev show; the other use cases load
    interval = inbox_interval_seconds()
    return dg.Definitions.merge(
        *(build_use_case_definitions(use_case, interval) for use_case in use_cases),
        build_shared_inbox_definitions(use_cases, interval),
        dg.Definitions(
            resources=scoring_resources(),
            # Runs launched from the UI's asset graph or by automation also run in process.
            executor=dg.in_process_executor,
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return scoring_definitions()
