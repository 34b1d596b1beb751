"""Attention guidance: the in-training Grad-CAM, the pointing loss, and the expert masks it learns from."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")
import cv2  # noqa: E402
import keras  # noqa: E402

from tumorscope.training.attention import AttentionGuidedTail, grad_cam, pointing_loss, tumor_cells  # noqa: E402


def _tail() -> keras.Model:
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 16))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(6, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))


def test_training_grad_cam_is_the_grad_cam_the_runtime_shows():
    from tumorscope.export.trust import grad_cam_maps

    tail = _tail()
    x = np.random.default_rng(0).random((5, 8, 8, 16), dtype=np.float32)
    labels = np.array([0, 1, 2, 3, 1])
    probabilities, cam = grad_cam(tail, x, labels)
    reference = grad_cam_maps(tail, x)  # what export checks the runtime's maps against
    expected = np.maximum(reference[np.arange(5), :, :, labels], 0)
    np.testing.assert_allclose(np.asarray(cam), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(probabilities), np.asarray(tail(x)), atol=1e-6)


def test_pointing_loss_is_low_when_the_peak_is_on_the_tumour_and_zero_without_one():
    cam = np.zeros((3, 4, 4), np.float32)
    cam[:, 1, 1] = 1.0  # every map peaks at cell (1, 1)
    cells = np.zeros((3, 4, 4), np.float32)
    cells[0, 1, 1] = 1  # tumour under the peak
    cells[1, 3, 3] = 1  # tumour elsewhere
    loss = np.asarray(pointing_loss(cam, cells, tau=0.1))
    assert loss[0] < 0.01 < 5 < loss[1] and loss[2] == 0


def test_tumor_cells_mark_every_cell_with_a_tumour_pixel():
    masks = np.zeros((2, 16, 16), np.uint8)
    masks[0, 1, 9] = 1  # one pixel in cell (0, 2) of a 4x4 grid
    cells = tumor_cells(masks, (4, 4))
    assert cells.shape == (2, 4, 4) and cells[0, 0, 2] == 1 and cells.sum() == 1


def test_guided_training_moves_the_peak_into_the_tumour_cells():
    tail = _tail()
    rng = np.random.default_rng(1)
    x = rng.random((64, 8, 8, 16), dtype=np.float32)
    labels = rng.integers(0, 4, 64)
    cells = np.zeros((64, 8, 8), np.float32)
    cells[:, 5:7, 1:3] = 1  # the "tumour" sits in the same 2x2 cells of every map

    def inside_share() -> float:
        cam = np.asarray(grad_cam(tail, x, labels)[1]).reshape(64, -1)
        return float(np.mean(cells.reshape(64, -1)[np.arange(64), cam.argmax(1)]))

    before = inside_share()
    guided = AttentionGuidedTail(tail, weight=1.0)
    guided.compile(keras.optimizers.Adam(3e-3))
    history = guided.fit(x, (labels, cells), batch_size=16, epochs=40, verbose=0, validation_data=(x, labels))
    assert history.history["pointing_loss"][-1] < history.history["pointing_loss"][0]
    assert inside_share() > max(0.5, before + 0.2)
    assert {"val_loss", "val_accuracy"} <= set(history.history)


@pytest.mark.realdata
def test_expert_masks_fit_the_classifier_images_and_skip_held_out_patients(data_root):
    from tumorscope.datasets import classification_items, classifier_tumor_masks, load_split

    items = classifier_tumor_masks(data_root, classification_items(data_root, "train"))
    masked = [i for i in items if i.mask is not None]
    assert 1000 < len(masked) < len(items) and all(i.mask.is_file() for i in masked[::50])
    assert all(i.label != 2 for i in masked)  # no notumor image carries a tumour mask
    brisc = [i for i in masked if "brisc2025" in i.mask.parts]
    figshare = [i for i in masked if "brain-tumor-seg" in i.mask.parts]
    assert len(brisc) + len(figshare) == len(masked) and len(brisc) > 1000 and len(figshare) > 500
    allowed = {p.rsplit("/", 1)[-1] for p in load_split("segmenter", "brisc-train")}
    assert all(i.mask.with_suffix(".jpg").name in allowed for i in brisc)  # leak-filtered BRISC train only
    train_blocks = set(load_split("segmenter", "train"))
    assert all(int(i.mask.stem) in train_blocks for i in figshare)  # no Figshare val/test patient
    for item in masked[:: max(1, len(masked) // 40)]:  # the expert's image behind each mask is this very picture
        source = item.mask.parent.parent / "images" / item.mask.with_suffix(".jpg" if item in brisc else ".png").name
        a, b = (cv2.resize(cv2.imread(str(p), 0), (64, 64), interpolation=cv2.INTER_AREA).ravel().astype(float)
                for p in (source, item.image))
        assert np.corrcoef(a, b)[0, 1] > 0.97, item.image
