"""Trust layer logic on hand-made inputs: input check fit and scores, the consistency rule, explanations."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tumorscope.runtime.consistency import OutOfDistributionError, reconcile
from tumorscope.runtime.explain import explanation_from_map, render_explanation
from tumorscope.runtime.inputcheck import (
    STATUS_OK,
    STATUS_OOD,
    InputCheck,
    InputCheckModel,
    decode_array,
    encode_array,
    fit_input_check,
)
from tumorscope.runtime.notices import NO_TUMOR_REGION_FOUND, NOT_A_BRAIN_MRI, SEGMENTER_DISAGREES
from tumorscope.runtime.results import RESULT_KEYS, Analysis, Classification, Segmentation
from tumorscope.runtime.spec import ModelSpec


def _clusters(rng: np.random.Generator, n: int, dim: int = 8) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % 2
    centers = np.stack([np.zeros(dim), np.full(dim, 6.0)])
    return centers[labels] + rng.normal(0, 1, (n, dim)), labels


def test_input_check_rejects_at_most_the_target_share_of_val_and_flags_far_points(rng):
    train, labels = _clusters(rng, 400)
    val, _ = _clusters(rng, 300)
    model, info = fit_input_check(train, labels, val, target_rejection=0.01)
    assert np.mean(model.scores(val) > model.threshold) <= 0.01
    assert info["val_rejected"] <= 0.01 and info["fit_images"] == 400 and 0 <= info["shrinkage"] <= 1
    far = np.full((3, 8), 30.0)
    between = np.full((1, 8), 3.0)  # halfway between the two class means: far from both in Mahalanobis terms
    assert [c.status for c in model.check(far)] == [STATUS_OOD] * 3
    assert model.check(between)[0].status == STATUS_OOD
    assert model.check(val[:1] * 0 + 6.0)[0].status == STATUS_OK  # a class mean itself


def test_input_check_scores_are_squared_mahalanobis_distances():
    means = np.array([[0.0, 0.0]], np.float32)
    whitening = np.diag([1.0, 0.5]).astype(np.float32)  # covariance diag(1, 4)
    model = InputCheckModel(means, whitening, threshold=5.0)
    np.testing.assert_allclose(model.scores(np.array([[1.0, 2.0], [0.0, 4.0]])), [2.0, 4.0], rtol=1e-6)
    assert model.check(np.array([[3.0, 0.0]]))[0] == InputCheck(STATUS_OOD, 9.0 / 5.0, 1.0)  # score / threshold
    with pytest.raises(ValueError, match="expects 2 features"):
        model.scores(np.zeros((1, 3)))


def test_input_check_travels_in_the_spec_json(rng):
    train, labels = _clusters(rng, 100)
    model, info = fit_input_check(train, labels, train)
    spec = ModelSpec(task="classifier", input_size=(32, 32), labels=("a", "b"), features_name="features",
                     input_check=model.to_spec(**info))
    again = InputCheckModel.from_spec(ModelSpec.from_json(spec.to_json()).input_check)
    np.testing.assert_allclose(again.scores(train[:5]), model.scores(train[:5]), rtol=1e-6)
    assert again.threshold == model.threshold
    assert InputCheckModel.from_spec({}) is None
    with pytest.raises(ValueError, match="unknown input_check method"):
        InputCheckModel.from_spec({"method": "energy"})
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(decode_array(json.loads(json.dumps(encode_array(array)))), array)
    with pytest.raises(ValueError, match="malformed"):
        decode_array({"shape": [2], "base64": "AAAA"})


def _seg(area: bool, confident: float = 1.0) -> Segmentation:
    mask = np.zeros((10, 10), bool)
    if area:
        mask[2:4, 2:4] = True
    return Segmentation(mask, 0.99, 4.0 if area else 0.0, 8.0 if area else 0.0, (2, 2, 2, 2) if area else None,
                        confident)


def _cls(label: str, status: str = STATUS_OK) -> Classification:
    return Classification(label, 0.9, {label: 0.9}, InputCheck(status, 1.0, 2.0))


def test_notumor_empties_the_region_unless_the_segmenter_is_confident():
    seg, warnings = reconcile(_cls("notumor"), _seg(True, confident=0.5), confident_area=0.7)
    assert seg.tumor_area_pct == 0.0 and seg.brain_area_pct == 0.0 and seg.bbox is None and not seg.mask.any()
    assert warnings == () and seg.max_probability == 0.99 and seg.confident_area_pct == 0.5
    seg, warnings = reconcile(_cls("notumor"), _seg(True, confident=0.71), confident_area=0.7)
    assert seg.tumor_area_pct == 4.0 and seg.bbox == (2, 2, 2, 2) and warnings == (SEGMENTER_DISAGREES,)
    seg, warnings = reconcile(_cls("notumor"), _seg(True, confident=50.0), confident_area=None)
    assert seg.bbox is None and warnings == ()  # no measured threshold: never confident


def test_tumour_without_region_and_out_of_distribution_are_warned():
    seg, warnings = reconcile(_cls("glioma"), _seg(False), 0.95)
    assert warnings == (NO_TUMOR_REGION_FOUND,) and seg.bbox is None
    seg, warnings = reconcile(_cls("glioma"), _seg(True), 0.95)
    assert warnings == () and seg.tumor_area_pct == 4.0
    _, warnings = reconcile(_cls("meningioma", STATUS_OOD), _seg(True), 0.95)
    assert warnings == (NOT_A_BRAIN_MRI,)
    error = OutOfDistributionError(InputCheck(STATUS_OOD, 912.5, 300.0))
    assert isinstance(error, ValueError) and "does not look like a brain MRI slice" in str(error)


def test_explanation_peak_is_in_original_pixels_and_negative_maps_have_none():
    class_map = np.full((8, 8), -1.0, np.float32)
    class_map[6, 1] = 5.0  # row 6, column 1 of an 8x8 grid over a 400 (high) x 200 (wide) image
    explanation = explanation_from_map(class_map, "glioma", (400, 200))
    x, y = explanation.peak
    assert 0 <= x < 200 and 0 <= y < 400
    assert abs(x - 1.5 / 8 * 200) <= 200 / 8 and abs(y - 6.5 / 8 * 400) <= 400 / 8
    assert explanation.heat.shape == (400, 200) and explanation.heat.max() == pytest.approx(1.0)
    assert explanation.heat.min() >= 0
    empty = explanation_from_map(np.full((8, 8), -2.0), "notumor", (50, 60))
    assert empty.peak is None and not empty.heat.any()
    image = np.zeros((400, 200, 3), np.uint8)
    picture = render_explanation(image, explanation, ("WARNING: test",))
    assert picture.shape[0] > 400 and picture.shape[1:] == (200, 3)
    assert picture[:400].any()  # the heat map is blended in
    with pytest.raises(ValueError, match="does not match"):
        render_explanation(np.zeros((10, 10, 3), np.uint8), explanation)


def test_analysis_json_always_has_the_trust_keys():
    failed = Analysis(name="x.png", error="x.png: cannot decode")
    row = failed.to_dict()
    assert {"input_check", "warnings", "explanation_peak"} <= set(RESULT_KEYS) == set(row)
    assert row["warnings"] == [] and row["input_check"] is None and row["explanation_peak"] is None
    explanation = explanation_from_map(np.eye(4), "glioma", (10, 10))
    ok = Analysis(name="y.png", classification=_cls("glioma", STATUS_OOD), segmentation=_seg(True),
                  image=np.zeros((10, 10, 3), np.uint8), image_size=(10, 10), warnings=(NOT_A_BRAIN_MRI,),
                  explanation=explanation)
    row = ok.to_dict()
    assert row["input_check"] == {"status": STATUS_OOD, "score": 1.0, "threshold": 2.0}
    assert row["warnings"] == [NOT_A_BRAIN_MRI] and row["explanation_peak"] == list(explanation.peak)
    assert ok.explanation_image().shape[1:] == (10, 3) and ok.overlay().shape[1:] == (10, 3)


def test_confident_area_counts_pixels_at_the_confident_level():
    from tumorscope.runtime.consistency import CONFIDENT_LEVEL, confident_area_pct

    probability = np.zeros((10, 10), np.float32)
    probability[:2] = CONFIDENT_LEVEL  # 20 % at the level
    probability[2, :5] = CONFIDENT_LEVEL - 0.01  # just below: not counted
    assert confident_area_pct(probability) == pytest.approx(20.0)


def test_image_statistics_separate_flat_and_colour_images_from_a_slice_like_image(rng):
    from tumorscope.export import synthetic_images
    from tumorscope.runtime.inputcheck import IMAGE_STATISTICS, image_statistics

    slices = synthetic_images(40, (64, 64), seed=1)
    stats = image_statistics(slices)
    assert stats.shape == (40, len(IMAGE_STATISTICS)) and np.isfinite(stats).all()
    flat = np.full((1, 64, 64, 3), 0.5, np.float32)
    red = np.zeros((1, 64, 64, 3), np.float32)
    red[..., 0] = 1.0
    assert image_statistics(flat)[0, IMAGE_STATISTICS.index("std")] == 0.0
    assert image_statistics(red)[0, IMAGE_STATISTICS.index("colorfulness")] == 1.0
    features = rng.normal(0, 1, (40, 4))
    model, info = fit_input_check(features, np.zeros(40, int), features, 0.02, train_stats=stats, val_stats=stats)
    assert model.bounds is not None and info["val_rejected"] <= 0.02
    again = InputCheckModel.from_spec(json.loads(json.dumps(model.to_spec())))
    checks = again.check(np.zeros((2, 4)), image_statistics(np.concatenate([flat, red])))
    assert [c.status for c in checks] == [STATUS_OOD, STATUS_OOD] and all(c.threshold == 1.0 for c in checks)
    assert again.check(features[:1], stats[:1])[0].score <= 1.0 or info["val_rejected"] > 0


def test_image_statistics_match_their_definitions_on_a_known_image_and_batch_per_image():
    """Each column against its definition, computed by hand in numpy on a half-dark, half-bright image with a
    coloured corner; a batch gives each image's own row (so the per-image fast path equals the batch maths)."""
    from tumorscope.runtime.inputcheck import IMAGE_STATISTICS, image_statistics

    image = np.zeros((1, 32, 32, 3), np.float32)
    image[0, :, 16:] = 0.95
    image[0, :4, :4] = (1.0, 0.0, 0.0)
    gray = image[0].mean(axis=2)
    expected = {
        "colorfulness": (image[0].max(axis=2) - image[0].min(axis=2)).mean(), "mean": gray.mean(), "std": gray.std(),
        "dark": (gray < 0.05).mean(), "bright": (gray > 0.9).mean(),
        "gradient": np.abs(np.diff(gray, axis=0)).mean() + np.abs(np.diff(gray, axis=1)).mean(),
    }
    border = np.concatenate([gray[:2].ravel(), gray[-2:].ravel(), gray[:, :2].ravel(), gray[:, -2:].ravel()]).mean()
    expected |= {"border": border, "center_minus_border": gray[8:24, 8:24].mean() - border}
    row = dict(zip(IMAGE_STATISTICS, image_statistics(image)[0], strict=True))
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, abs=1e-6), name
    assert row["fine_detail"] > 0 and 0 < row["entropy"] <= np.log(16)
    other = np.full((1, 32, 32, 3), 0.5, np.float32)
    both = image_statistics(np.concatenate([image, other]))
    assert np.array_equal(both, np.concatenate([image_statistics(image), image_statistics(other)]))


def test_statistics_outside_the_fitted_range_flag_an_image_the_gaussian_accepts(rng):
    """A statistic beyond every training and val image's value flags the image; inside the range it adds nothing."""
    features = rng.normal(0, 1, (200, 4))
    stats = rng.uniform(0, 1, (200, 3))
    model, info = fit_input_check(features, np.zeros(200, int), features, 0.02, train_stats=stats, val_stats=stats)
    low, high = model.bounds
    assert np.allclose(low, stats.min(axis=0)) and np.allclose(high, stats.max(axis=0))
    assert model.outside(stats).max() == 0.0  # no fit image is outside its own range
    near_mean = np.full((1, 3), 0.5)
    beyond = np.array([[0.5, 0.5, high[2] + 0.5 * (high[2] - low[2])]])  # half a range above the highest value
    assert model.outside(near_mean)[0] == 0.0
    assert model.outside(beyond)[0] == pytest.approx(1.5)
    again = InputCheckModel.from_spec(json.loads(json.dumps(model.to_spec())))
    assert np.allclose(again.bounds, model.bounds, atol=1e-6)
    verdicts = again.check(features[:2], np.concatenate([near_mean, beyond]))
    assert verdicts[1].status == STATUS_OOD and verdicts[1].score >= 1.5
    assert verdicts[0].score < verdicts[1].score
