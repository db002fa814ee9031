"""Shadow scoring: while a challenger exists, every scored file is scored by it too, in the same run, unpublished.

Each test works in a DVC project of its own (``dvc_model_root``) and a temporary data folder, and
runs the use case's real score_file job. The challenger is the champion's own Pipeline with its
card's threshold moved (``challenger_with_threshold``): same scores, so the decisions that flip are
exactly the rows scored between the two thresholds, which the test can count from the scored file.
Use cases come from the registry.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterEventType
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring_assets.core.drift import score_band_counts, score_shift_psi
from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.manifest import manifest_path_for
from scoring_assets.core.model_lifecycle import ModelFiles, register_challenger
from scoring_assets.core.model_store import verify_artifact
from scoring_assets.core.promotion_gate import flip_criterion, gather_evidence, judge_challenger
from scoring_assets.core.shadow_scores import SHADOW_SCORES, ShadowFigures, ShadowSummary, shadow_summaries
from scoring_assets.settings import MODEL_ROOT_VARIABLE
from scoring_assets.use_cases import all_use_cases
from tests.support.batches import valid_rows, write_csv
from tests.support.model_roots import built_model, challenger_files, dvc_model_root, new_challenger
from tests.support.scoring_runs import score_file

USE_CASES = list(all_use_cases().values())
ROWS = 300


@pytest.fixture(params=USE_CASES, ids=lambda each: each.name)
def scored_use_case(request):
    built_model(request.param)
    return request.param


@pytest.fixture
def model_root(tmp_path, monkeypatch, scored_use_case) -> Path:
    """The use case's own DVC project, the one the runs' model store uses."""
    root = dvc_model_root(tmp_path / "models", scored_use_case)
    monkeypatch.setenv(MODEL_ROOT_VARIABLE, str(root))
    return root


def challenger_with_threshold(root: Path, use_case, threshold: float) -> str:
    """Register the champion's Pipeline with its card's threshold set to ``threshold`` as the challenger; its md5."""
    artifacts = challenger_files(root, use_case)
    card_name = Path(use_case.model.card_path).name
    card = json.loads(artifacts[card_name].read_text(encoding="utf-8"))
    card["threshold"] = threshold
    artifacts[card_name] = artifacts[ModelFiles(use_case, root).model_name].with_name(card_name)
    artifacts[card_name].write_text(json.dumps(card, indent=2), encoding="utf-8")
    record = register_challenger(use_case, root, artifacts, training_set={"rows": 0}, metrics={})
    return record["model_md5"]


def materializations(instance, use_case, asset: str, partition: str):
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey([use_case.name, asset]), asset_partitions=[partition]), limit=10
    ).records
    return [record.asset_materialization for record in records]


def scored_frame(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_a_scored_file_is_shadow_scored_by_the_challenger_with_its_figures_and_nothing_is_published(
    tmp_path, instance, folders, scored_use_case, model_root
):
    use_case = scored_use_case
    champion = verify_artifact(use_case, model_root)
    lower = round(champion.threshold / 2, 4)
    challenger_md5 = challenger_with_threshold(model_root, use_case, lower)
    source = write_csv(valid_rows(use_case, ROWS, seed=3), tmp_path / "incoming" / "batch.csv")

    registration, result = score_file(instance, folders, source, use_case=use_case)

    assert result.success
    key, own = registration.partition_key, folders.of(use_case.name)
    [shadow] = materializations(instance, use_case, SHADOW_SCORES, key)
    figures = {name: value.value for name, value in shadow.metadata.items()}
    scored = scored_frame(own.scored_file(key))
    scores = scored[use_case.score_column].astype(float).to_numpy()
    expected_flips = ((scores >= lower) != (scores >= champion.threshold)).mean()
    assert figures["challenger_md5"] == challenger_md5 and figures["champion_md5"] == champion.md5
    assert figures["rows"] == len(scored) == ROWS
    assert figures["flip_share"] == pytest.approx(expected_flips, abs=1e-6) and expected_flips > 0
    assert figures["score_psi"] == pytest.approx(0.0, abs=1e-9)  # the same Pipeline: the same scores
    assert figures["share_above_threshold_champion"] == pytest.approx((scores >= champion.threshold).mean(), abs=1e-6)
    assert figures["share_above_threshold_challenger"] == pytest.approx((scores >= lower).mean(), abs=1e-6)

    lake = pq.read_table(figures["lake_path"]).to_pandas()
    assert len(lake) == ROWS
    flipped = lake["champion_predicted_label"] != lake["challenger_predicted_label"]
    assert flipped.mean() == pytest.approx(figures["flip_share"], abs=1e-6)
    assert np.allclose(lake["champion_score"], scores) and np.allclose(lake["challenger_score"], scores)
    summary = own.read_stage_summary(SHADOW_SCORES, key)
    assert summary["challenger_md5"] == challenger_md5 and summary["flip_share"] == figures["flip_share"]
    published = [path.name for path in own.scored_folder.rglob("*")]
    assert published and not [name for name in published if "shadow" in name or "challenger" in name]


def test_shadow_scoring_changes_nothing_published_and_without_a_challenger_nothing_is_shadowed(
    tmp_path, instance, folders, scored_use_case, model_root
):
    use_case, own = scored_use_case, folders.of(scored_use_case.name)
    rows = valid_rows(use_case, ROWS, seed=5)
    plain, plain_run = score_file(instance, folders, write_csv(rows, tmp_path / "a" / "plain.csv"), use_case=use_case)
    assert plain_run.success
    assert materializations(instance, use_case, SHADOW_SCORES, plain.partition_key) == []
    assert not own.lake_file(SHADOW_SCORES, plain.partition_key).exists()

    challenger_with_threshold(model_root, use_case, 0.05)
    shadowed, shadowed_run = score_file(
        instance, folders, write_csv(rows, tmp_path / "b" / "shadowed.csv"), use_case=use_case
    )
    assert shadowed_run.success
    assert materializations(instance, use_case, SHADOW_SCORES, shadowed.partition_key)

    files = [own.scored_file(each.partition_key) for each in (plain, shadowed)]
    without, with_challenger = (scored_frame(path).drop(columns=["scoring_timestamp"]) for path in files)
    pd.testing.assert_frame_equal(without, with_challenger)
    manifests = [json.loads(manifest_path_for(path).read_text(encoding="utf-8")) for path in files]
    assert manifests[0].keys() == manifests[1].keys()
    for part in ("model", "threshold", "threshold_source", "score_summary", "backtest", "rejected"):
        assert manifests[0][part] == manifests[1][part], part
    companions = [
        sorted(path.name.replace(each.stem, "") for path in own.scored_folder.glob(f"{each.stem}*")) for each in files
    ]
    assert companions[0] == companions[1] and ".csv" in companions[0] and ".manifest.json" in companions[0]


def test_a_damaged_challenger_does_not_fail_scoring_and_is_recorded_on_the_partition(
    tmp_path, instance, folders, scored_use_case, model_root
):
    use_case = scored_use_case
    new_challenger(model_root, use_case)
    files = ModelFiles(use_case, model_root)
    files.challenger.write_text(files.challenger.read_text().replace(".dir", ".dirt"), encoding="utf-8")
    source = write_csv(valid_rows(use_case, 80), tmp_path / "damaged.csv")

    registration, result = score_file(instance, folders, source, use_case=use_case)

    assert result.success
    key, own = registration.partition_key, folders.of(use_case.name)
    assert own.scored_file(key).exists() and materializations(instance, use_case, "scores", key)
    assert materializations(instance, use_case, SHADOW_SCORES, key) == []
    [observation] = [
        event.event_specific_data.asset_observation
        for event in result.all_events
        if event.event_type == DagsterEventType.ASSET_OBSERVATION
        and event.event_specific_data.asset_observation.asset_key.path[-1] == SHADOW_SCORES
    ]
    assert observation.partition == key
    assert observation.metadata["outcome"].value == "challenger unusable"
    assert str(files.challenger) in observation.metadata["error"].value


def test_the_gate_counts_flips_from_this_challengers_shadow_scores_and_falls_back_for_another(
    tmp_path, instance, folders, scored_use_case, model_root
):
    use_case, own = scored_use_case, folders.of(scored_use_case.name)
    lower = round(verify_artifact(use_case, model_root).threshold / 2, 4)
    challenger_with_threshold(model_root, use_case, lower)
    for seed in (1, 2):
        source = write_csv(valid_rows(use_case, 150, seed=seed), tmp_path / f"batch_{seed}.csv")
        assert score_file(instance, folders, source, use_case=use_case)[1].success

    evidence = gather_evidence(use_case, model_root, own)
    shadowed = flip_criterion(use_case.promotion, evidence)
    rescored = flip_criterion(use_case.promotion, replace(evidence, shadow=()))
    assert shadowed.note == "from shadow scores of 2 files"
    assert shadowed.value == pytest.approx(rescored.value, abs=1e-6) and shadowed.value > 0
    verdict = judge_challenger(use_case, model_root, own)
    [recorded] = [each for each in verdict.criteria if each.name == "decision_flip_share"]
    assert recorded.note == "from shadow scores of 2 files"

    new_challenger(model_root, use_case, compress=5)  # another challenger: those shadow scores are not its own
    [fallback] = [each for each in judge_challenger(use_case, model_root, own).criteria if each.name == shadowed.name]
    assert "shadow" not in fallback.note and fallback.value == 0.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.booleans(), st.booleans()), min_size=1, max_size=200),
    st.integers(1, 7),
)
def test_shadow_figures_are_the_mean_of_flipped_decisions_and_the_score_psi_of_the_bands(rows, pieces):
    champion, challenger, champion_label, challenger_label = (np.array(column) for column in zip(*rows, strict=True))
    figures = ShadowFigures()
    for part in np.array_split(np.arange(len(rows)), pieces):  # batch by batch adds up to the whole file
        figures.add(champion[part], challenger[part], champion_label[part], challenger_label[part])
    record = figures.as_record()
    assert record["rows"] == len(rows)
    assert record["flip_share"] == pytest.approx(np.mean(champion_label != challenger_label), abs=1e-6)
    assert record["share_above_threshold_champion"] == pytest.approx(champion_label.mean(), abs=1e-6)
    psi = score_shift_psi(score_band_counts(champion), score_band_counts(challenger))
    assert record["score_psi"] == pytest.approx(psi, abs=1e-6)

    identical = ShadowFigures()
    identical.add(champion, champion, champion_label, champion_label)
    assert identical.as_record()["score_psi"] == pytest.approx(0.0, abs=1e-9)
    assert identical.as_record()["flip_share"] == 0.0


def test_the_gate_reads_the_latest_files_shadow_scored_by_this_challenger_against_this_champion(tmp_path):
    own = UseCaseFolders(tmp_path, next(iter(all_use_cases())))
    shadowed_by = {
        "a": ("new", "served", 0.5),
        "b": ("old", "served", 0.5),
        "c": ("new", "served", 0.5),
        "d": ("new", "served", 0.3),
        "e": ("new", "before", 0.5),
        "f": ("new", "served", 0.5),
        "g": None,
    }
    for when, (name, models) in enumerate(shadowed_by.items()):  # scored in this order, a second apart
        key = f"{'zyxwvut'[when]}{name}-0000000{when}"  # names sort against the scoring order
        own.write_stage_summary("scores", key, {"run_id": key})
        os.utime(own.lake_file("scores", key, ".json"), ns=(when * 10**9, when * 10**9))
        if models is not None:
            challenger, champion, threshold = models
            figures = {"rows": 10, "flipped_rows": 1, "flip_share": 0.1, "score_psi": 0.0}
            shares = {"share_above_threshold_champion": 0.2, "share_above_threshold_challenger": 0.3}
            summary = ShadowSummary(
                key, challenger, challenger, champion, champion, threshold, 0.4, key, "", **figures, **shares
            )
            own.write_stage_summary(SHADOW_SCORES, key, summary.as_record())

    assert [each.partition_key[1] for each in shadow_summaries(own, "new", "served", 0.5, 2)] == ["c", "f"]
    assert [each.partition_key[1] for each in shadow_summaries(own, "new", "served", 0.5, 5)] == ["a", "c", "f"]
    assert shadow_summaries(own, "other", "served", 0.5, 5) == []
