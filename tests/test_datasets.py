"""Committed splits: determinism, disjointness, sizes; data-root resolution."""

from __future__ import annotations

import pytest

from tumorscope import datasets


def test_resolve_data_root_errors(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.DATA_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="TUMORSCOPE_DATA"):
        datasets.resolve_data_root(None)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        datasets.resolve_data_root(tmp_path / "missing")
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path))
    assert datasets.resolve_data_root(None) == tmp_path


def test_committed_classification_splits_are_disjoint_and_complete():
    train, val = set(datasets.load_split("classifier", "train")), set(datasets.load_split("classifier", "val"))
    test, dedup = set(datasets.load_split("classifier", "test")), set(datasets.load_split("classifier", "test-dedup"))
    assert not train & val and not (train | val) & test
    assert dedup < test and len(dedup) < len(test)
    assert all(p.startswith("Training/") for p in train | val) and all(p.startswith("Testing/") for p in test)
    assert 0.08 < len(val) / (len(train) + len(val)) < 0.12


def test_val_split_is_stratified():
    for split in ("train", "val"):
        counts = {c: 0 for c in datasets.CLASS_NAMES}
        for path in datasets.load_split("classifier", split):
            counts[path.split("/")[1]] += 1
        total = sum(counts.values())
        assert all(0.2 < n / total < 0.3 for n in counts.values())


def test_committed_segmentation_splits_use_disjoint_contiguous_blocks():
    parts = {s: datasets.load_split("segmenter", s) for s in datasets.SEGMENTATION_SPLITS}
    sets = [set(v) for v in parts.values()]
    assert not sets[0] & sets[1] and not sets[0] & sets[2] and not sets[1] & sets[2]
    for ids in parts.values():  # every split is a union of whole 50-id blocks
        blocks = {(i - 1) // datasets.SEG_BLOCK for i in ids}
        assert sum(len([i for i in ids if (i - 1) // datasets.SEG_BLOCK == b]) for b in blocks) == len(ids)
        for b in blocks:
            block_ids = [i for i in ids if (i - 1) // datasets.SEG_BLOCK == b]
            assert block_ids == list(range(block_ids[0], block_ids[-1] + 1))
    total = sum(len(v) for v in parts.values())
    assert abs(len(parts["train"]) / total - 0.70) < 0.03


def test_unknown_split_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown classifier split"):
        datasets.load_split("classifier", "holdout")


@pytest.mark.realdata
def test_splits_regenerate_identically_from_the_real_data(data_root):
    assert datasets.make_classification_splits(data_root)["splits"] == {
        s: datasets.load_split("classifier", s) for s in datasets.CLASSIFICATION_SPLITS
    }
    assert datasets.make_segmentation_splits(data_root)["splits"] == {
        s: datasets.load_split("segmenter", s) for s in datasets.SEGMENTATION_SPLITS
    }


@pytest.mark.realdata
def test_real_split_items_exist(data_root):
    items = datasets.classification_items(data_root, "test-dedup")
    assert len(items) == len(datasets.load_split("classifier", "test-dedup"))
    seg = datasets.segmentation_items(data_root, "test")
    assert all(i.mask is not None and i.mask.is_file() for i in seg[:5])
