"""The shipped .keras files hold graph and weights only: no optimizer state, same predictions."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tumorscope.training.models import build_segmenter, segmenter_loss  # noqa: E402
from tumorscope.training.train import save_for_inference  # noqa: E402


def test_save_for_inference_drops_the_optimizer_and_keeps_the_outputs(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_segmenter((32, 32), base_filters=8, depth=2)
    model.compile(keras.optimizers.Adam(1e-3), segmenter_loss())
    rng = np.random.default_rng(0)
    x = rng.random((4, 32, 32, 3)).astype("float32")
    y = (rng.random((4, 32, 32, 1)) > 0.8).astype("float32")
    model.fit(x, y, epochs=1, verbose=0)  # creates Adam's moment slots
    model.save(tmp_path / "full.keras")
    lean_path = save_for_inference(model, tmp_path / "lean.keras")
    lean = keras.models.load_model(lean_path, compile=False)
    assert getattr(lean, "optimizer", None) is None
    assert lean_path.stat().st_size < 0.6 * (tmp_path / "full.keras").stat().st_size
    np.testing.assert_allclose(np.asarray(lean(x, training=False)), np.asarray(model(x, training=False)), atol=1e-6)
