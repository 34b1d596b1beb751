"""Input check: does an image look like the brain MRI slices the classifier was trained on?

The classifier artifact exports, next to its probabilities, the maps of an earlier conv block (VGG16's
block 4) averaged over space (``ModelSpec.check_name``). ``tumorscope export`` fits a Gaussian to
those of TRAINING images (class means, one shared covariance shrunk towards its diagonal) and sets a
threshold on the val split so that at most ``VAL_REJECTION`` of val images are rejected. The score
of an image is its smallest squared Mahalanobis distance to a class mean (Lee et al., "A Simple
Unified Framework for Detecting Out-of-Distribution Samples and Adversarial Attacks", NeurIPS 2018,
who found intermediate layers separate foreign inputs far better than the penultimate features:
measured here too, see the README); above the threshold the image is ``out_of_distribution``.
Besides, any of the cheap ``image_statistics`` outside the range seen on the fit's training and val
images (a flat grey picture has no contrast; a photo has no dark border) flags the image outright.
The fitted parameters live in ``ModelSpec.input_check`` (so they travel with the artifact and are
refitted by every export). Cost: one small matrix product.

numpy only; no TensorFlow.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = [
    "InputCheck",
    "InputCheckModel",
    "STATUS_OK",
    "STATUS_OOD",
    "STATUS_UNAVAILABLE",
    "UNAVAILABLE",
    "fit_input_check",
    "VAL_REJECTION",
    "image_statistics",
    "IMAGE_STATISTICS",
    "encode_array",
    "decode_array",
]

STATUS_OK = "ok"
STATUS_OOD = "out_of_distribution"
STATUS_UNAVAILABLE = "unavailable"
"""The artifact has no features output or no fitted parameters (exported before the input check existed)."""
METHOD = "mahalanobis-shared-cov"
VAL_REJECTION = 0.005
"""Share of val images the fitted threshold may reject. The issue allows 1 %; half of it, because on the int8
artifacts the official test split is flagged a few tenths of a point more often than val (README)."""
_BOUNDS_SLACK = 1e-5
"""Excess over a bound (in range widths) still counted as inside: the bounds are stored as float32."""


def encode_array(array: np.ndarray) -> dict[str, Any]:
    """``{"dtype", "shape", "base64"}`` of a float32 array (little-endian), for JSON specs."""
    data = np.ascontiguousarray(array, dtype="<f4")
    return {"dtype": "float32", "shape": list(data.shape), "base64": base64.b64encode(data.tobytes()).decode("ascii")}


def decode_array(entry: dict[str, Any]) -> np.ndarray:
    """Inverse of ``encode_array``.

    Raises:
        ValueError: the entry is malformed or its size does not match its shape.
    """
    try:
        raw = base64.b64decode(entry["base64"])
        shape = tuple(int(v) for v in entry["shape"])
        return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed input_check array in the model spec ({exc}); re-export the model") from exc


@dataclass(frozen=True)
class InputCheck:
    """The input check's verdict for one image.

    Attributes:
        status: ``ok``, ``out_of_distribution`` or ``unavailable``.
        score: smallest squared Mahalanobis distance to a class mean (None when unavailable).
        threshold: scores above it are out of distribution (None when unavailable).
    """

    status: str
    score: float | None = None
    threshold: float | None = None

    @property
    def out_of_distribution(self) -> bool:
        """True when the image does not look like a brain MRI slice."""
        return self.status == STATUS_OOD

    def to_dict(self) -> dict[str, Any]:
        """``{"status", "score", "threshold"}``, rounded for JSON."""
        return {
            "status": self.status,
            "score": None if self.score is None else round(float(self.score), 4),
            "threshold": None if self.threshold is None else round(float(self.threshold), 4),
        }


UNAVAILABLE = InputCheck(STATUS_UNAVAILABLE)


class InputCheckModel:
    """Class-conditional Gaussian with a shared covariance over the check's features, and the range of the
    ``image_statistics`` seen in the fit.

    Args:
        means: ``(K, D)`` float32 class means.
        whitening: ``(D, D)`` float32 ``W`` with ``W.T @ W`` = inverse shrunk covariance.
        threshold: scores above it are out of distribution.
        bounds: optional ``(2, S)`` lowest and highest value of each image statistic seen in the fit.
    """

    def __init__(self, means: np.ndarray, whitening: np.ndarray, threshold: float, bounds: np.ndarray | None = None):
        self.bounds = None if bounds is None else np.asarray(bounds, np.float64)
        means, whitening = np.asarray(means, np.float32), np.asarray(whitening, np.float32)
        if means.ndim != 2 or whitening.shape != (means.shape[1], means.shape[1]):
            raise ValueError(f"input check: means {means.shape} and whitening {whitening.shape} do not fit")
        self.means, self.whitening, self.threshold = means, whitening, float(threshold)
        self._white_means = means @ whitening.T

    @property
    def dim(self) -> int:
        """Feature width D."""
        return int(self.means.shape[1])

    def scores(self, features: np.ndarray) -> np.ndarray:
        """``(N, D)`` features -> ``(N,)`` float64 smallest squared Mahalanobis distance to a class mean."""
        features = np.asarray(features, np.float32).reshape(len(features), -1)
        if features.shape[1] != self.dim:
            raise ValueError(f"input check expects {self.dim} features, got {features.shape[1]}; re-export the model")
        white = features @ self.whitening.T
        d2 = ((white[:, None, :] - self._white_means[None]) ** 2).sum(axis=2)
        return d2.min(axis=1).astype(np.float64)

    def outside(self, stats: np.ndarray) -> np.ndarray:
        """``(N, S)`` image statistics -> ``(N,)``: 0 inside ``bounds`` (or without bounds), else 1 + the largest
        excess over the range, in units of the range's width (so above 1.0, the out-of-distribution score)."""
        stats = np.asarray(stats, np.float64).reshape(len(stats), -1)
        if self.bounds is None:
            return np.zeros(len(stats))
        low, high = self.bounds
        width = np.maximum(high - low, 1e-12)
        excess = np.maximum(np.maximum(low - stats, stats - high), 0.0) / width
        worst = excess.max(axis=1)
        return np.where(worst > _BOUNDS_SLACK, 1.0 + worst, 0.0)

    def check_inputs(self, features: np.ndarray, batch: np.ndarray) -> list[InputCheck]:
        """``check`` of the features and, when this model has bounds, the ``image_statistics`` of the model
        inputs ``batch`` (``(N, H, W, 3)`` float32, the ``preprocess`` output)."""
        return self.check(features, image_statistics(batch) if self.bounds is not None else None)

    def check(self, features: np.ndarray, stats: np.ndarray | None = None) -> list[InputCheck]:
        """One ``InputCheck`` per row of ``(N, D)`` features (and ``(N, S)`` image statistics).

        The reported score is the larger of the feature distance divided by the threshold and the statistics'
        ``outside`` score; above 1.0 the image is out of distribution.
        """
        score = self.scores(features) / self.threshold
        if stats is not None:
            score = np.maximum(score, self.outside(stats))
        return [InputCheck(STATUS_OOD if s > 1.0 else STATUS_OK, float(s), 1.0) for s in score]

    def to_spec(self, **info: Any) -> dict[str, Any]:
        """JSON-ready ``ModelSpec.input_check`` entry; ``info`` adds provenance (counts, rates)."""
        entry = {"method": METHOD, "threshold": self.threshold, "means": encode_array(self.means),
                 "whitening": encode_array(self.whitening), **info}
        if self.bounds is not None:
            entry["bounds"] = encode_array(self.bounds)
        return entry

    @classmethod
    def from_spec(cls, entry: dict[str, Any] | None) -> InputCheckModel | None:
        """The model stored in a spec's ``input_check`` entry, or None when there is none.

        Raises:
            ValueError: an entry of an unknown method or with malformed arrays.
        """
        if not entry:
            return None
        if entry.get("method") != METHOD:
            raise ValueError(f"unknown input_check method {entry.get('method')!r} in the model spec; "
                             "upgrade tumorscope or re-export the model")
        return cls(decode_array(entry["means"]), decode_array(entry["whitening"]), float(entry["threshold"]),
                   decode_array(entry["bounds"]) if "bounds" in entry else None)


IMAGE_STATISTICS = ("colorfulness", "mean", "std", "dark", "bright", "border", "center_minus_border", "gradient",
                    "fine_detail", "entropy")
"""What ``image_statistics`` measures, in column order."""
_CHANNEL_MEAN = np.full((1, 3), 1.0 / 3.0, np.float32)
_CHANNEL_DIFFERENCES = np.array([[1, -1, 0], [0, 1, -1], [-1, 0, 1]], np.float32)


def image_statistics(batch: np.ndarray) -> np.ndarray:
    """Cheap statistics of model inputs that separate MRI slices from photos, documents, noise and flat images.

    Args:
        batch: ``(N, H, W, 3)`` float32 in [0, 1] (the ``preprocess`` output).

    Returns:
        ``(N, len(IMAGE_STATISTICS))`` float64: channel spread (colour), gray mean and std, share of dark
        (< 0.05) and bright (> 0.9) pixels, mean of the outer 1/16 border, centre mean minus border mean,
        mean gradient magnitude, mean absolute difference to the 3x3 box-blurred image (noise), and the
        16-bin histogram entropy.
    """
    x = np.ascontiguousarray(batch, np.float32)
    n, h, w, _ = x.shape
    b = max(1, min(h, w) // 16)
    area = float(h * w)
    stats = np.empty((n, len(IMAGE_STATISTICS)), np.float64)
    for k in range(n):  # OpenCV reductions on one image at a time: no temporaries the size of the batch
        image = x[k]
        gray = cv2.transform(image, _CHANNEL_MEAN)
        # max - min of three values = half the sum of their pairwise absolute differences
        spread = cv2.norm(cv2.transform(image, _CHANNEL_DIFFERENCES), cv2.NORM_L1) / (2.0 * area)
        mean, std = (float(v[0, 0]) for v in cv2.meanStdDev(gray))
        border = (cv2.sumElems(gray[:b])[0] + cv2.sumElems(gray[-b:])[0] + cv2.sumElems(gray[:, :b])[0]
                  + cv2.sumElems(gray[:, -b:])[0]) / (2 * b * (w + h))
        center = cv2.mean(gray[h // 4 : h - h // 4, w // 4 : w - w // 4])[0]
        gradient = (cv2.norm(gray[1:], gray[:-1], cv2.NORM_L1) / ((h - 1) * w)
                    + cv2.norm(gray[:, 1:], gray[:, :-1], cv2.NORM_L1) / (h * (w - 1)))
        blurred = cv2.blur(gray, (3, 3), borderType=cv2.BORDER_REPLICATE)
        # 16 gray levels, floor(16 * gray) clipped to 15: round(|16 * gray - 0.5|) for gray in [0, 1]
        levels = cv2.min(cv2.convertScaleAbs(gray, alpha=16.0, beta=-0.5), 15)
        hist = cv2.calcHist([levels], [0], None, [16], [0, 16]).ravel() / area
        entropy = -(hist * np.log(np.where(hist > 0, hist, 1.0))).sum()
        stats[k] = (spread, mean, std, np.count_nonzero(gray < 0.05) / area, np.count_nonzero(gray > 0.9) / area,
                    border, center - border, gradient, cv2.norm(gray, blurred, cv2.NORM_L1) / area, entropy)
    return stats


def _whitening(covariance: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(covariance)
    values = np.maximum(values, values.max() * 1e-8)
    return (vectors / np.sqrt(values)).T


def fit_input_check(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    val_features: np.ndarray,
    target_rejection: float = VAL_REJECTION,
    shrinkage: float | None = None,
    train_stats: np.ndarray | None = None,
    val_stats: np.ndarray | None = None,
) -> tuple[InputCheckModel, dict[str, Any]]:
    """Fit the Gaussian on training features, set the threshold on val features.

    Args:
        train_features: ``(N, D)`` check features of TRAINING images.
        train_labels: ``(N,)`` int class index of each (the true labels).
        val_features: ``(M, D)`` features of val images; the threshold is the smallest score that rejects
            at most ``target_rejection`` of them (their ``1 - target_rejection`` quantile, taken upwards).
        shrinkage: weight of the diagonal target in the covariance (None: Ledoit-Wolf estimate).
        train_stats, val_stats: ``image_statistics`` of the same images; when given, their range over both sets
            bounds what an in-distribution image may show (rejecting no val image).

    Returns:
        The model and provenance numbers (``fit_images``, ``val_images``, ``val_rejected``, ``shrinkage``).
    """
    bounds = None
    if train_stats is not None and val_stats is not None:
        both = np.concatenate([np.asarray(train_stats, np.float64), np.asarray(val_stats, np.float64)])
        bounds = np.stack([both.min(axis=0), both.max(axis=0)])
    x = np.asarray(train_features, np.float64).reshape(len(train_features), -1)
    labels = np.asarray(train_labels)
    if len(x) < 2 or len(x) != len(labels):
        raise ValueError(f"input check fit needs >= 2 training features with labels, got {len(x)} and {len(labels)}")
    classes = sorted(set(labels.tolist()))
    means = np.stack([x[labels == c].mean(axis=0) for c in classes])
    centred = x - means[np.searchsorted(classes, labels)]
    sample = centred.T @ centred / len(x)
    target = np.diag(np.diag(sample)) + np.eye(x.shape[1]) * max(float(np.trace(sample)) / x.shape[1], 1e-6) * 1e-3
    if shrinkage is None:
        shrinkage = _ledoit_wolf(centred, sample, target)
    covariance = (1 - shrinkage) * sample + shrinkage * target
    model = InputCheckModel(means.astype(np.float32), _whitening(covariance).astype(np.float32), np.inf)
    val_scores = model.scores(val_features)
    allowed = int(np.floor(target_rejection * len(val_scores)))
    ordered = np.sort(val_scores)
    threshold = float(ordered[len(ordered) - 1 - allowed]) if len(ordered) else float("inf")
    model = InputCheckModel(model.means, model.whitening, threshold * 1.0001, bounds)
    rejected = [c.out_of_distribution for c in model.check(val_features, val_stats)]
    info = {"fit_images": int(len(x)), "val_images": int(len(val_scores)),
            "val_rejected": round(float(np.mean(rejected)), 5) if rejected else None,
            "shrinkage": round(float(shrinkage), 5), "target_rejection": target_rejection}
    return model, info


def _ledoit_wolf(centred: np.ndarray, sample: np.ndarray, target: np.ndarray) -> float:
    """Ledoit-Wolf shrinkage intensity towards ``target`` (clipped to [0, 1])."""
    n = len(centred)
    squares = centred**2
    pi = float((squares.T @ squares).sum() / n - (sample**2).sum())
    gamma = float(((sample - target) ** 2).sum())
    if gamma <= 0:
        return 1.0
    return float(np.clip(pi / n / gamma, 0.0, 1.0))
