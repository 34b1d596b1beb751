"""Model builders, the in-graph ImageNet normalization, and the Dice loss against numpy Dice."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tumorscope import metrics  # noqa: E402
from tumorscope.training import models  # noqa: E402


def test_classifier_graph_equals_vgg16_preprocess_input_on_bgr():
    keras.utils.set_random_seed(0)
    model = models.build_classifier(input_size=(32, 32), backbone_weights=None)
    ours = model.get_layer("vgg16")
    reference = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    weights = ours.get_weights()
    weights[0] = weights[0][:, :, ::-1, :]  # undo the RGB channel reversal of block1_conv1
    reference.set_weights(weights)
    rgb = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    expected = reference(keras.applications.vgg16.preprocess_input(rgb * 255.0))
    stem = keras.Model(model.input, ours(model.get_layer("imagenet_norm")(model.input)))
    np.testing.assert_allclose(np.asarray(stem(rgb)), np.asarray(expected), rtol=1e-4, atol=1e-3)


def test_classifier_head_and_phases():
    model = models.build_classifier(input_size=(32, 32), backbone_weights=None)
    assert model.output_shape == (None, 4)
    assert [layer.name for layer in model.layers[-5:]] == ["flatten", "dropout_1", "dense", "dropout_2",
                                                           "probabilities"]
    assert not model.get_layer("vgg16").trainable
    models.set_backbone_trainable(model)
    trainable = [layer.name for layer in model.get_layer("vgg16").layers if layer.trainable and layer.weights]
    assert trainable == list(models.FINE_TUNE_LAYERS)
    out = np.asarray(model(np.zeros((1, 32, 32, 3), "float32")))
    assert np.isclose(out.sum(), 1.0, atol=1e-5)


def test_missing_backbone_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="backbone weights file not found"):
        models.build_classifier(input_size=(32, 32), backbone_weights=tmp_path / "none.h5")


def test_segmenter_shape_and_size():
    model = models.build_segmenter((128, 128), base_filters=16)
    assert model.output_shape == (None, 128, 128, 1)
    assert 1.85e6 < model.count_params() < 2.0e6
    with pytest.raises(ValueError, match="divisible"):
        models.build_segmenter((100, 100))


def test_vgg16_encoder_segmenter_reuses_the_classifier_stem():
    keras.utils.set_random_seed(0)
    model = models.build_segmenter((32, 32), base_filters=8, depth=3, encoder="vgg16")
    assert model.output_shape == (None, 32, 32, 1)
    names = [layer.name for layer in model.layers]
    assert "block3_conv3" in names and "block4_conv1" not in names  # blocks 1..depth only
    assert [model.get_layer(f"skip{i}").input[1].shape[-1] for i in (1, 2, 3)] == [64, 128, 256]
    frozen = {layer.name for layer in model.layers if layer.weights and not layer.trainable}
    assert frozen == {"imagenet_norm", "block1_conv1", "block1_conv2"}
    # Same normalization + channel-reversed first kernel as the classifier: identical block-1 features.
    classifier = models.build_classifier(input_size=(32, 32), backbone_weights=None)
    vgg = classifier.get_layer("vgg16")
    for name in ("block1_conv1", "block1_conv2"):
        vgg.get_layer(name).set_weights(model.get_layer(name).get_weights())
    rgb = np.random.default_rng(1).random((1, 32, 32, 3)).astype("float32")
    seg_stem = keras.Model(model.input, model.get_layer("skip1").input[1])  # = block1_conv2 output
    cls_stem = keras.Sequential([classifier.get_layer("imagenet_norm"), vgg.get_layer("block1_conv1"),
                                 vgg.get_layer("block1_conv2")])
    np.testing.assert_allclose(np.asarray(seg_stem(rgb)), np.asarray(cls_stem(rgb)), rtol=1e-5, atol=1e-4)


def test_unknown_segmenter_encoder_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown encoder 'resnet'"):
        models.build_segmenter((32, 32), encoder="resnet")
    with pytest.raises(ValueError, match="depth must be 1..5"):
        models.build_segmenter((128, 128), depth=6, encoder="vgg16")


def test_keras_dice_matches_numpy_dice_on_binary_masks():
    rng = np.random.default_rng(0)
    true = (rng.random((3, 16, 16, 1)) > 0.7).astype("float32")
    pred = (rng.random((3, 16, 16, 1)) > 0.6).astype("float32")
    keras_dice = float(models.dice_coefficient(true, pred, smooth=1e-9))
    numpy_dice = float(np.mean(metrics.dice(pred[..., 0], true[..., 0])))
    assert keras_dice == pytest.approx(numpy_dice, abs=1e-5)
    assert float(models.dice_loss(true, true)) == pytest.approx(0.0, abs=1e-6)


def test_segmenter_loss_prefers_the_right_mask():
    true = np.zeros((1, 8, 8, 1), "float32")
    true[0, 2:5, 2:5] = 1
    good = np.clip(true * 0.9 + 0.05, 0, 1)
    bad = np.clip((1 - true) * 0.9 + 0.05, 0, 1)
    assert float(models.segmenter_loss()(true, good)) < float(models.segmenter_loss()(true, bad))


def test_dice_loss_leaves_tumour_free_slices_to_cross_entropy():
    tumour = np.zeros((1, 8, 8, 1), "float32")
    tumour[0, 2:5, 2:5] = 1
    empty = np.zeros((1, 8, 8, 1), "float32")
    faint = np.full((1, 8, 8, 1), 0.1, "float32")
    # An empty ground truth adds nothing to the Dice term, however much is predicted on it ...
    assert float(models.dice_loss(empty, faint)) == pytest.approx(0.0, abs=1e-6)
    batch_true = np.concatenate([tumour, empty])
    batch_pred = np.concatenate([tumour, faint])
    assert float(models.dice_loss(batch_true, batch_pred)) == pytest.approx(0.0, abs=1e-6)
    # ... while cross-entropy still penalizes the false pixels.
    assert float(models.segmenter_loss()(empty, faint)) > float(models.segmenter_loss()(empty, empty * 0 + 0.01))
    # A tumour slice's Dice term is unchanged by the empty one beside it.
    half = tumour * 0.5
    alone = float(models.dice_loss(tumour, half))
    assert alone > 0.1
    assert float(models.dice_loss(batch_true, np.concatenate([half, faint]))) == pytest.approx(alone, abs=1e-6)


def test_presence_loss_targets_the_peak_pixel_of_tumour_free_slices():
    empty = np.zeros((1, 8, 8, 1), "float32")
    quiet = np.full((1, 8, 8, 1), 0.05, "float32")
    one_hot_pixel = quiet.copy()
    one_hot_pixel[0, 3, 3] = 0.9
    # One confident pixel on a tumour-free slice costs far more than the same amount spread thinly.
    assert float(models.tumor_presence_loss(empty, one_hot_pixel)) > 2.0
    assert float(models.tumor_presence_loss(empty, quiet)) < 0.06
    # A tumour slice with a confident pixel pays next to nothing; one without pays.
    tumour = np.zeros((1, 8, 8, 1), "float32")
    tumour[0, 2:5, 2:5] = 1
    assert float(models.tumor_presence_loss(tumour, one_hot_pixel)) < 0.11
    assert float(models.tumor_presence_loss(tumour, quiet)) > 2.9


def test_hard_dice_scores_tumour_free_slices_by_any_false_pixel():
    empty = np.zeros((2, 8, 8, 1), "float32")
    pred = np.zeros((2, 8, 8, 1), "float32")
    pred[1, 0, 0] = 0.7
    assert float(models.hard_dice(empty[:1], pred[:1])) == pytest.approx(1.0)
    assert float(models.hard_dice(empty[1:], pred[1:])) == pytest.approx(0.5)
    tumour = np.zeros((1, 8, 8, 1), "float32")
    tumour[0, 2:4, 2:4] = 1
    assert float(models.hard_dice(tumour, tumour * 0.6)) == pytest.approx(1.0)
    assert float(models.hard_dice(tumour, tumour * 0.4)) == pytest.approx(1 / 5)


def test_presence_weight_scales_the_presence_term():
    empty = np.zeros((1, 8, 8, 1), "float32")
    pred = np.full((1, 8, 8, 1), 0.05, "float32")
    pred[0, 3, 3] = 0.9
    presence = float(models.tumor_presence_loss(empty, pred))
    without = float(models.segmenter_loss(0.0)(empty, pred))
    assert float(models.segmenter_loss(1.0)(empty, pred)) == pytest.approx(without + presence, rel=1e-5)
    assert float(models.segmenter_loss(0.5)(empty, pred)) == pytest.approx(without + 0.5 * presence, rel=1e-5)


def test_mirror_channel_is_the_gray_image_flipped_left_right():
    model = models.build_segmenter(input_size=(32, 48), base_filters=4, depth=2, mirror=True)
    rgb = np.random.default_rng(1).random((2, 32, 48, 3)).astype("float32")
    stacked = np.asarray(keras.Model(model.input, model.get_layer("with_mirror").output)(rgb))
    assert stacked.shape == (2, 32, 48, 4)
    np.testing.assert_allclose(stacked[..., :3], rgb)
    np.testing.assert_allclose(stacked[..., 3], rgb.mean(axis=-1)[:, :, ::-1], atol=1e-5)
    assert model.get_layer("enc1_conv1").kernel.shape == (3, 3, 4, 4)
    assert not model.get_layer("mirror_flip").trainable and not model.get_layer("mirror_gray").trainable


def test_mirror_channel_needs_the_plain_encoder():
    with pytest.raises(ValueError, match="plain encoder"):
        models.build_segmenter(encoder="vgg16", depth=2, mirror=True)
