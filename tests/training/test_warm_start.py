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


def test_a_mirror_segmenter_warm_starts_at_another_input_size_with_its_own_mirror(tmp_path):
    keras.utils.set_random_seed(5)
    build_segmenter(input_size=(32, 32), base_filters=4, depth=2, mirror=True).save(tmp_path / "small.keras")
    small = keras.models.load_model(tmp_path / "small.keras", compile=False)
    large = build_segmenter(input_size=(48, 48), base_filters=4, depth=2, mirror=True)
    _warm_start(large, tmp_path / "small.keras")
    for name in ("enc1_conv1", "mask"):
        for got, want in zip(large.get_layer(name).get_weights(), small.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(got, want)
    image = np.random.default_rng(5).random((1, 48, 48, 3)).astype("float32")
    mirrored = keras.Model(large.input, large.get_layer("mirror_image").output)(image)
    np.testing.assert_allclose(np.asarray(mirrored)[0, ..., 0], image[0].mean(axis=-1)[:, ::-1], atol=1e-6)
