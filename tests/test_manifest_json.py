"""A manifest has one serializer: whatever it holds comes back unchanged from its JSON, and older ones still read.

``core.manifest_model.Manifest`` is the only writer and reader of ``<scored>.manifest.json``;
``tests/test_earlier_manifests.py`` proves a manifest written by version 0.1.0 reads and writes
back byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring_assets.core.manifest_model import (
    Backtest,
    DriftFigures,
    DriftThresholdFigures,
    EstimatedPerformance,
    FeatureDriftFigures,
    InputFile,
    Manifest,
    ModelUsed,
    RejectedRows,
    ScoreDistribution,
    ScoredOutput,
    ScoreDriftFigures,
)
from scoring_assets.core.paths import REPO_ROOT

EARLIER_MANIFEST = REPO_ROOT / "tests" / "data" / "manifest_0.1.0" / "scored.manifest.json"

TEXT = st.text(max_size=16)
MAYBE_TEXT = st.none() | TEXT
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
MAYBE_FLOAT = st.none() | FLOATS
COUNTS = st.integers(min_value=0, max_value=2**53)
LEVELS = st.sampled_from(["ok", "warn", "alert"])


def all_floats(part: type) -> st.SearchStrategy:
    return st.builds(part, **{field.name: FLOATS for field in fields(part)})


DRIFT = st.builds(
    DriftFigures,
    reference_md5=MAYBE_TEXT,
    rows=COUNTS,
    features=st.dictionaries(
        TEXT, st.builds(FeatureDriftFigures, psi=FLOATS, level=LEVELS, missing_share=FLOATS), max_size=4
    ),
    score=st.builds(
        ScoreDriftFigures,
        psi=FLOATS,
        level=LEVELS,
        share_at_or_above_threshold=FLOATS,
        reference_share_at_or_above_threshold=FLOATS,
        mean=MAYBE_FLOAT,
        reference_mean=MAYBE_FLOAT,
    ),
    input_level=LEVELS,
    report_path=MAYBE_TEXT,
    thresholds=st.builds(
        DriftThresholdFigures,
        warn=FLOATS,
        alert=FLOATS,
        per_feature=st.dictionaries(TEXT, st.tuples(FLOATS, FLOATS), max_size=3),
    ),
)
MANIFESTS = st.builds(
    Manifest,
    partition_key=TEXT,
    run_id=TEXT,
    scores_run_id=TEXT,
    input=st.builds(InputFile, path=TEXT, sha256=TEXT, bytes=COUNTS, rows=COUNTS),
    rejected=st.builds(
        RejectedRows, path=MAYBE_TEXT, rows=COUNTS, counts_by_rule=st.dictionaries(TEXT, COUNTS, max_size=4)
    ),
    model=st.builds(ModelUsed, use_case=MAYBE_TEXT, version=TEXT, md5=TEXT, path=TEXT),
    threshold=FLOATS,
    threshold_source=st.sampled_from(["model card", "run config"]),
    scoring_timestamp=TEXT,
    score_column=MAYBE_TEXT,
    score_summary=st.none() | all_floats(ScoreDistribution),
    backtest=st.none()
    | st.builds(
        Backtest, rows_with_label=COUNTS, roc_auc=FLOATS, precision=FLOATS, recall=FLOATS, observed_positive_rate=FLOATS
    ),
    estimated_performance=st.none() | all_floats(EstimatedPerformance),
    drift=st.none() | DRIFT,
    output=st.builds(ScoredOutput, path=TEXT, sha256=TEXT, rows=COUNTS, cells_neutralised=COUNTS),
    previous_output_archived_to=MAYBE_TEXT,
    code_version=TEXT,
)


@settings(max_examples=200, deadline=None)
@given(manifest=MANIFESTS)
def test_any_manifest_comes_back_unchanged_from_its_json(manifest):
    text = manifest.to_json()

    read_back = Manifest.from_json(text)

    assert read_back == manifest
    assert read_back.to_json() == text
    assert json.loads(text) == manifest.as_dict()


def test_a_manifest_without_the_fields_added_since_the_first_ones_reads_with_their_defaults():
    first = json.loads(EARLIER_MANIFEST.read_text(encoding="utf-8"))
    for later in ("score_column", "estimated_performance", "drift", "previous_output_archived_to"):
        del first[later]
    del first["output"]["cells_neutralised"], first["model"]["use_case"]

    manifest = Manifest.from_dict(first)

    assert (manifest.score_column, manifest.estimated_performance, manifest.drift) == (None, None, None)
    assert manifest.previous_output_archived_to is None
    assert manifest.output.cells_neutralised == 0 and manifest.model.use_case is None
    assert manifest.output.sha256.startswith("a66c4045fde3") and manifest.input.rows == 400


def test_a_key_the_manifest_does_not_know_is_ignored():
    document = json.loads(EARLIER_MANIFEST.read_text(encoding="utf-8"))
    known = Manifest.from_dict(document)

    assert Manifest.from_dict({**document, "written_by_a_later_version": {"x": 1}}) == known


@pytest.mark.parametrize(
    "document",
    [{}, [], {"partition_key": "x", "input": "not an object"}, {"input": {"path": "a"}}],
    ids=["empty", "a list", "a part that is not an object", "parts missing"],
)
def test_a_document_that_is_not_a_manifest_is_refused_as_such(document):
    with pytest.raises(ValueError, match="not a scoring manifest"):
        Manifest.from_dict(document)
