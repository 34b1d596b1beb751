"""Warm starts: a segmenter with the mirror channel starts as the segmenter it grew from."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tumorscope.training.models import build_segmenter  # noqa: E402
from tumorscope.training.train import _warm_start  # noqa: E402


def test_a_mirror_segmenter_warm_started_from_a_plain_one_computes_the_same_masks(tmp_path):
    keras.utils.set_random_seed(4)
    plain = build_segmenter(input_size=(32, 32), base_filters=4, depth=2)
    plain.save(tmp_path / "plain.keras")
    mirror = build_segmenter(input_size=(32, 32), base_filters=4, depth=2, mirror=True)
    _warm_start(mirror, tmp_path / "plain.keras")
    images = np.random.default_rng(4).random((3, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(mirror(images)), np.asarray(plain(images)), atol=1e-6)
    kernel = mirror.get_layer("enc1_conv1").kernel.numpy()
    assert np.all(kernel[:, :, 3] == 0) and np.array_equal(kernel[:, :, :3], plain.get_layer("enc1_conv1").kernel)


def test_a_warm_start_from_another_architecture_names_the_layer(tmp_path):
    build_segmenter(input_size=(32, 32), base_filters=8, depth=2).save(tmp_path / "wide.keras")
    with pytest.raises(ValueError, match="enc1_conv1"):
        _warm_start(build_segmenter(input_size=(32, 32), base_filters=4, depth=2), tmp_path / "wide.keras")
    build_segmenter(input_size=(32, 32), base_filters=4, depth=3).save(tmp_path / "deep.keras")
    with pytest.raises(ValueError, match="not in the new model"):
        _warm_start(build_segmenter(input_size=(32, 32), base_filters=4, depth=2), tmp_path / "deep.keras")
