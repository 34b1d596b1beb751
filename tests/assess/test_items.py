"""The even picker, the batch iterator, ground-truth masks and the label order."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tumorscope.assess.items import iter_batches, label_positions, pick_evenly, read_mask
from tumorscope.datasets import CLASS_NAMES
from tumorscope.runtime.errors import DecodeError
from tumorscope.runtime.preprocess import load_image, preprocess
from tumorscope.runtime.spec import ModelSpec


def test_pick_evenly_keeps_both_ends_and_is_deterministic():
    items = list(range(10))
    assert pick_evenly(items, 4) == [0, 3, 6, 9]
    assert pick_evenly(items, 1) == [0]
    assert pick_evenly(items, None) == items and pick_evenly(items, 50) == items
    assert pick_evenly(items, 3) == pick_evenly(items, 3) == [0, 4, 9]  # round(4.5) = 4 (banker's rounding)
    with pytest.raises(ValueError, match="positive"):
        pick_evenly(items, 0)


def _spec(size=(16, 12)) -> ModelSpec:
    return ModelSpec(task="classifier", input_size=size, labels=CLASS_NAMES)


def test_iter_batches_preprocesses_and_reports_unreadable_files(tmp_path, rng):
    paths = []
    for i in range(5):
        path = tmp_path / f"{i}.png"
        assert cv2.imwrite(str(path), rng.integers(0, 256, (20 + i, 30, 3), dtype=np.uint8))
        paths.append(path)
    (tmp_path / "2.png").write_bytes(b"not a png")
    paths.append(tmp_path / "missing.png")
    batches = list(iter_batches(paths, _spec(), batch_size=4))
    assert [b.indices for b in batches] == [[0, 1, 3], [4]] and [b.stop for b in batches] == [4, 6]
    assert batches[0].sizes == [(20, 30), (21, 30), (23, 30)]
    assert [e["path"] for b in batches for e in b.errors] == [str(paths[2]), str(paths[5])]
    assert all("\n" not in e["error"] for b in batches for e in b.errors)
    expected = np.stack([preprocess(load_image(paths[i]), (16, 12)) for i in (0, 1, 3)])
    np.testing.assert_array_equal(batches[0].inputs, expected)
    assert batches[0].inputs.dtype == np.float32 and batches[0].inputs.shape == (3, 16, 12, 3)


def test_iter_batches_yields_empty_chunks_and_rejects_a_bad_size(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"")
    (batch,) = iter_batches([tmp_path / "bad.png"], _spec(), 8)
    assert batch.indices == [] and batch.inputs.shape == (0, 16, 12, 3) and len(batch.errors) == 1
    with pytest.raises(ValueError, match="batch_size"):
        next(iter_batches([], _spec(), 0))


def test_read_mask_thresholds_at_127_and_names_a_bad_file(tmp_path):
    mask = np.array([[0, 127], [128, 255]], np.uint8)
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), [[False, False], [True, True]])
    (tmp_path / "x.png").write_bytes(b"junk")
    with pytest.raises(DecodeError, match="x.png"):
        read_mask(tmp_path / "x.png")


def test_label_positions_map_data_classes_to_model_columns():
    labels = ("pituitary", "glioma", "notumor", "meningioma")
    positions = label_positions(labels, "m.onnx")
    assert [labels[p] for p in positions] == list(CLASS_NAMES)
    probabilities = np.eye(4)[[0, 1]]  # model says pituitary, then glioma
    assert probabilities[:, positions].argmax(axis=1).tolist() == [CLASS_NAMES.index("pituitary"), 0]
    with pytest.raises(ValueError, match="lack the data classes"):
        label_positions(("a", "b"), "m.onnx")
