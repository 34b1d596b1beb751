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
    indep = set(datasets.load_split("classifier", "notumor-indep"))
    assert not train & val and not (train | val) & test
    assert not (train | val | test) & indep
    assert dedup < test and len(dedup) < len(test)
    assert all(p.startswith(("Training/", "brisc2025/no_tumor/")) for p in train | val)
    assert all(p.startswith("Testing/") for p in test)
    assert 0.08 < len(val) / (len(train) + len(val)) < 0.12


def test_val_split_is_stratified():
    for split in ("train", "val"):
        counts = {c: 0 for c in datasets.CLASS_NAMES}
        for path in datasets.load_split("classifier", split):
            counts[datasets.CLASS_NAMES[datasets.label_of(path)]] += 1
        total = sum(counts.values())
        assert all(0.2 < n / total < 0.37 for n in counts.values())


def test_notumor_indep_is_a_plane_stratified_held_out_part_of_the_brisc_tumor_free_slices():
    indep = datasets.load_split("classifier", "notumor-indep")
    trained = [p for s in ("train", "val") for p in datasets.load_split("classifier", s) if p.startswith("brisc2025/")]
    assert len(indep) >= 250
    assert all(datasets.label_of(p) == datasets.CLASS_NAMES.index("notumor") for p in indep + trained)
    for plane in datasets.PLANES:
        held = sum(datasets.plane_of(p) == plane for p in indep)
        total = held + sum(datasets.plane_of(p) == plane for p in trained)
        assert abs(held / total - datasets.INDEP_FRACTION) < 0.01, plane


def test_plane_of_reads_brisc_file_names_only():
    assert datasets.plane_of("brisc2025/no_tumor/train/brisc2025_train_02477_no_ax_t1.jpg") == "ax"
    assert datasets.plane_of("x/brisc2025_test_00020_gl_co_t1.jpg") == "co"
    assert datasets.plane_of("Testing/glioma/Te-gl_0001.jpg") is None


def test_committed_segmentation_splits_use_disjoint_contiguous_blocks():
    parts = {s: datasets.load_split("segmenter", s) for s in datasets.FIGSHARE_SPLITS}
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


def test_segmenter_extra_splits_are_disjoint_and_never_train_on_evaluation_images():
    part = {s: set(datasets.load_split("segmenter", s)) for s in datasets.SEGMENTATION_SPLITS}
    assert not part["brisc-train"] & part["brisc-test"]
    assert all(p.startswith("brisc2025/segmentation/train/") for p in part["brisc-train"])
    assert all(p.startswith("brisc2025/segmentation/test/") for p in part["brisc-test"])
    assert not part["notumor-train"] & (part["notumor-val"] | part["notumor-official"] | part["notumor-indep"])
    assert not part["notumor-val"] & (part["notumor-official"] | part["notumor-indep"])
    assert part["notumor-indep"] == set(datasets.load_split("classifier", "notumor-indep"))


@pytest.mark.realdata
def test_no_testing_copy_or_figshare_held_out_patient_is_trained_on(data_root):
    import csv

    with (data_root / "brisc2025" / "segmentation.csv").open(newline="") as handle:
        rows = {f"brisc2025/{r['file']}": r for r in csv.DictReader(handle)}
    with (data_root / "brisc2025" / "no_tumor.csv").open(newline="") as handle:
        free = {f"brisc2025/{r['file']}": r for r in csv.DictReader(handle)}
    held_out = set(datasets.load_split("segmenter", "val")) | set(datasets.load_split("segmenter", "test"))
    for path in datasets.load_split("segmenter", "brisc-train"):
        assert not rows[path]["nickparvar"].startswith("Testing/") and int(rows[path]["figshare_id"]) not in held_out
    trained = [p for s in ("train", "val") for p in datasets.load_split("classifier", s) if p.startswith("brisc2025/")]
    for path in trained + datasets.load_split("classifier", "notumor-indep"):
        assert free[path]["nickparvar"] == "", path  # no copy of a Nickparvar image, Testing or not
    train_ids = set(datasets.load_split("segmenter", "train"))
    for path in datasets.load_split("segmenter", "brisc-test"):
        row = rows[path]
        assert not (int(row["figshare_id"]) in train_ids and float(row["figshare_corr"]) >= 0.8)


@pytest.mark.realdata
def test_real_split_items_exist(data_root):
    items = datasets.classification_items(data_root, "test-dedup")
    assert len(items) == len(datasets.load_split("classifier", "test-dedup"))
    seg = datasets.segmentation_items(data_root, "test")
    assert all(i.mask is not None and i.mask.is_file() for i in seg[:5])
    brisc = datasets.segmentation_items(data_root, "brisc-test")
    assert all(i.mask is not None and i.mask.is_file() for i in brisc)
    free = datasets.segmentation_items(data_root, "notumor-indep")
    assert free and all(i.mask is None and i.image.is_file() for i in free)
