"""Source-balanced sampling of the classifier's tumour-free class (BRISC T1 vs Nickparvar)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from tumorscope.datasets import BRISC, CLASS_NAMES, SplitItem  # noqa: E402
from tumorscope.training.train import source_balanced_weights  # noqa: E402

NOTUMOR = CLASS_NAMES.index("notumor")


def _item(name: str, label: int, brisc: bool) -> SplitItem:
    folder = Path("/data") / (BRISC if brisc else "brain-tumor-mri") / "x"
    return SplitItem(image=folder / name, label=label, mask=None)


def test_classifier_weights_give_both_tumour_free_sources_half_and_leave_tumours_alone():
    items = [_item(f"n{i}.jpg", NOTUMOR, False) for i in range(30)] + [
        _item(f"b{i}.jpg", NOTUMOR, True) for i in range(10)] + [_item(f"g{i}.jpg", 0, False) for i in range(5)]
    w = source_balanced_weights(items)
    assert w[:30].sum() == pytest.approx(20) and w[30:40].sum() == pytest.approx(20), "each source half of 40"
    assert np.all(w[40:] == 1.0)



def test_segmenter_batches_show_oversampled_slices_k_times_per_epoch_with_tumour_free_in_every_batch():
    from tumorscope.training.train import _SegmentationBatches

    sides = [3, 6, 10, 15, 21, 28]  # slice i: a centred square; areas far enough apart to survive the augmentation
    images = np.zeros((6, 64, 64, 3), np.uint8)
    masks = np.zeros((6, 64, 64), np.uint8)
    for i, side in enumerate(sides):
        masks[i, 32 - side // 2 : 32 - side // 2 + side, 32 - side // 2 : 32 - side // 2 + side] = 1
    free = np.full((4, 64, 64, 3), 200, np.uint8)
    batches = _SegmentationBatches(images, masks, batch_size=4, seed=0, tumor_free=free, tumor_free_share=0.25,
                                   repeats=np.array([1, 1, 1, 3, 3, 1]))
    assert len(batches) == 4  # 10 tumour slices per epoch, 3 per batch
    seen = []
    for index in range(len(batches)):
        _, y = batches[index]
        assert y.shape[0] <= 4 and not y[-1].any(), "the last row of every batch is a tumour-free slice"
        areas = y[:-1, ..., 0].sum(axis=(1, 2))
        seen += [int(np.argmin(np.abs(np.log(a) - np.log(np.square(sides))))) for a in areas]
    assert np.bincount(seen, minlength=6).tolist() == [1, 1, 1, 3, 3, 1]


def test_oversample_option_rejects_unknown_types_and_counts():
    from click.testing import CliRunner

    from tumorscope.cli import main

    for bad in ("astrocytoma=2", "glioma=0", "glioma", "notumor=2"):
        result = CliRunner().invoke(main, ["train", "segmenter", "--out", "x", "--oversample", bad])
        assert result.exit_code == 2 and "TYPE=K" in result.output, (bad, result.output)


def test_an_input_size_the_unet_cannot_halve_is_one_line_before_any_data_is_read(tmp_path):
    from click.testing import CliRunner

    from tumorscope.cli import main

    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "segmenter", "--data", str(tmp_path), "--out", str(out),
                                       "--input-size", "100", "--depth", "4"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert result.output.strip().splitlines() == ["error: input size (100, 100) must be divisible by 2**depth = 16"]
    assert not out.exists()  # failed before the run folder was made or any data read (tmp_path holds none)
