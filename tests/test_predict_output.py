"""`predict --output/--resume/--shard/--workers`: streamed records equal --json, resume after a crash, shards."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tumorscope.cli import main
from tumorscope.records import read_records

MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Seven synthetic slices and one broken file."""
    root = tmp_path_factory.mktemp("scans")
    rng = np.random.default_rng(3)
    for i in range(7):
        gray = np.zeros((100 + 4 * i, 120), np.uint8)
        cv2.ellipse(gray, (60, 50 + 2 * i), (40, 35), 0, 0, 360, 100, -1)
        cv2.circle(gray, (50 + 3 * i, 45), 9, 220, -1)
        noisy = np.clip(gray + rng.integers(0, 20, gray.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(root / f"slice{i}.png"), noisy)
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return root


def _predict(*args: str):
    return CliRunner().invoke(main, ["predict", *args, "--model-dir", str(MODELS)])


def _without_timings(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "timings_ms"} for row in rows]


@pytest.fixture(scope="module")
def reference(folder) -> list[dict]:
    """`predict --json` of the folder, one worker (the sequential path)."""
    result = _predict(str(folder), "--json", "--workers", "1")
    assert result.exit_code == 1, result.output  # the broken file
    return json.loads(result.stdout)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_output_has_the_json_records_and_a_summary(folder, reference, tmp_path, suffix):
    out = tmp_path / f"results{suffix}"
    result = _predict(str(folder), "--output", str(out), "--workers", "2")
    assert result.exit_code == 1, result.output
    assert "8 record(s) written (1 failed)" in result.stdout and "not for clinical diagnosis" in result.stdout
    records = read_records(out)
    assert [list(r) for r in records] == [list(r) for r in reference], "same keys, same order"
    assert _without_timings(records) == _without_timings(reference)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_resume_after_a_truncated_output_gives_one_record_per_input(folder, reference, tmp_path, suffix):
    out = tmp_path / f"results{suffix}"
    assert _predict(str(folder), "--output", str(out)).exit_code == 1
    lines = out.read_bytes().splitlines(keepends=True)
    keep = 4 if suffix == ".jsonl" else 5  # the CSV header is a line too
    out.write_bytes(b"".join(lines[:keep]) + lines[keep][: len(lines[keep]) // 2])  # killed mid-record
    result = _predict(str(folder), "--output", str(out), "--resume", "--json")
    summary = json.loads(result.stdout)
    assert (summary["skipped"], summary["written"]) == (4, 4), summary
    records = read_records(out)
    assert sorted(r["path"] for r in records) == sorted(r["path"] for r in reference)
    assert len(records) == len({r["path"] for r in records}) == 8
    by_path = {r["path"]: r for r in _without_timings(records)}
    assert [by_path[r["path"]] for r in _without_timings(reference)] == _without_timings(reference)
    again = _predict(str(folder), "--output", str(out), "--resume", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["written"] == 0, "nothing left to do"
    assert len(read_records(out)) == 8


def test_shards_are_disjoint_and_cover_the_inputs(folder, reference, tmp_path):
    paths = []
    for k in (1, 2, 3):
        out = tmp_path / f"shard{k}.jsonl"
        result = _predict(str(folder), "--shard", f"{k}/3", "--output", str(out))
        assert result.exit_code in (0, 1), result.output
        paths.append([r["path"] for r in read_records(out)])
    flat = [p for shard in paths for p in shard]
    assert len(flat) == len(set(flat)) and sorted(flat) == sorted(r["path"] for r in reference)
    assert [len(s) for s in paths] == [3, 3, 2]


def test_output_refuses_to_overwrite_and_resume_needs_output(folder, tmp_path):
    out = tmp_path / "results.jsonl"
    out.write_text('{"path": "x.png"}\n')
    result = _predict(str(folder / "slice0.png"), "--output", str(out))
    assert result.exit_code == 2 and "--resume" in result.stderr
    assert out.read_text() == '{"path": "x.png"}\n'
    assert _predict(str(folder), "--resume").exit_code == 2
    assert _predict(str(folder), "--shard", "4/3").exit_code == 2
    bad = _predict(str(folder), "--output", str(tmp_path / "results.txt"))
    assert bad.exit_code == 2 and ".jsonl or .csv" in bad.stderr
