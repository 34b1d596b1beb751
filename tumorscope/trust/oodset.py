"""An out-of-distribution image set: pictures that are not brain MRI slices, built on the fly.

Two sources, nothing downloaded and nothing committed:

- images shipped inside installed Python packages (scikit-image's ``skimage/data`` and matplotlib's
  ``mpl-data/sample_data``; ``pip install tumorscope[dev]`` installs both): photos, documents,
  microscopy, a retina, a CT-like phantom, faces; colour ones also as grayscale, and square centre crops;
- seeded synthetic images: documents, microscopy-like cells, other body parts (X-ray-like chest,
  hand and knee sketches), noise, flat images, gradients and patterns.

numpy and OpenCV only (a leaf module); the package files are found with ``importlib`` and read
with OpenCV, so a missing package just contributes nothing (``package_images`` says which were found).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

__all__ = ["OodImage", "CATEGORIES", "package_images", "synthetic_ood_images", "ood_images", "write_ood_images",
           "MRI_LIKE_PACKAGE_FILES"]

CATEGORIES = ("photo", "document", "microscopy", "body-part", "noise", "flat", "pattern")
"""What each OOD image shows (``OodImage.category``)."""

_PACKAGE_DIRS = (("skimage", "data"), ("matplotlib", "mpl-data/sample_data"))
_CATEGORY_OF = {
    "page": "document", "text": "document", "cell": "microscopy", "ihc": "microscopy",
    "microaneurysms": "body-part", "retina": "body-part", "phantom": "body-part",
    "brick": "pattern", "grass": "pattern", "gravel": "pattern", "chessboard_GRAY": "pattern",
    "chessboard_RGB": "pattern", "color": "pattern", "logo": "pattern", "logo2": "pattern",
    "Minduka_Present_Blue_Pack": "pattern",
}
MRI_LIKE_PACKAGE_FILES = ("s1045.ima.gz",)
"""Package files that ARE MRI scans (matplotlib's ``s1045.ima.gz``); never part of the OOD set."""


@dataclass(frozen=True, eq=False)
class OodImage:
    """One out-of-distribution image.

    Attributes:
        name: unique file-name-safe name, e.g. ``pkg-skimage-astronaut-gray``.
        category: one of ``CATEGORIES``.
        image: ``(H, W, 3)`` uint8 RGB.
    """

    name: str
    category: str
    image: np.ndarray = field(repr=False)


def _package_dir(package: str, sub: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / sub
    return folder if folder.is_dir() else None


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _variants(name: str, category: str, rgb: np.ndarray) -> list[OodImage]:
    """The image, its grayscale copy (colour images only) and a square centre crop (non-square only)."""
    out = [OodImage(name, category, rgb)]
    if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])):
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        out.append(OodImage(f"{name}-gray", category, np.repeat(gray[..., None], 3, axis=2)))
    h, w = rgb.shape[:2]
    if abs(h - w) > min(h, w) // 8:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        out.append(OodImage(f"{name}-crop", category, np.ascontiguousarray(rgb[top : top + side, left : left + side])))
    return out


def package_images() -> list[OodImage]:
    """Images shipped inside installed packages (scikit-image, matplotlib), with variants; sorted by name."""
    out: list[OodImage] = []
    for package, sub in _PACKAGE_DIRS:
        folder = _package_dir(package, sub)
        if folder is None:
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in (".png", ".jpg", ".jpeg") or path.name in MRI_LIKE_PACKAGE_FILES:
                continue
            raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if raw is None or min(raw.shape[:2]) < 16:
                continue
            if raw.dtype != np.uint8:
                raw = cv2.normalize(raw, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
            stem = path.name.split(".")[0]
            out.extend(_variants(f"pkg-{package}-{stem}", _CATEGORY_OF.get(stem, "photo"), _rgb(raw)))
        faces = folder / "lfw_subset.npy"
        if faces.is_file():
            stack = np.load(faces)
            for i in range(0, min(len(stack), 100), 10):
                face = cv2.resize((np.clip(stack[i], 0, 1) * 255).astype(np.uint8), (100, 100))
                out.append(OodImage(f"pkg-{package}-face{i:03d}", "photo", _rgb(face)))
    return out


def _document(rng: np.random.Generator, size: int, dark: bool = False) -> np.ndarray:
    paper = int(rng.integers(200, 256))
    page = np.full((size, int(size * 0.75)), paper, np.uint8)
    y = int(rng.integers(20, 40))
    font = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_DUPLEX][int(rng.integers(3))]
    words = ["patient", "report", "invoice", "total", "the", "quick", "brown", "fox", "scan", "date", "2026", "page"]
    while y < size - 20:
        line = " ".join(rng.choice(words, int(rng.integers(3, 7))))
        cv2.putText(page, line, (12, y), font, float(rng.uniform(0.4, 0.8)), int(rng.integers(0, 60)), 1, cv2.LINE_AA)
        y += int(rng.integers(18, 30))
    if rng.random() < 0.5:
        cv2.rectangle(page, (10, size // 2), (page.shape[1] - 10, size // 2 + 60), 0, 1)
    return 255 - page if dark else page


def _cells(rng: np.random.Generator, size: int, stained: bool) -> np.ndarray:
    canvas = np.full((size, size, 3), (235, 225, 235) if stained else (10, 10, 10), np.float32)
    for _ in range(int(rng.integers(30, 120))):
        center = (int(rng.integers(0, size)), int(rng.integers(0, size)))
        axes = (int(rng.integers(4, 18)), int(rng.integers(4, 18)))
        color = (rng.uniform(90, 180), rng.uniform(30, 90), rng.uniform(120, 200)) if stained else (
            (0.0, rng.uniform(120, 255), 0.0) if rng.random() < 0.5 else (rng.uniform(60, 200),) * 3)
        cv2.ellipse(canvas, center, axes, float(rng.uniform(0, 180)), 0, 360, color, -1)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 1.5) + rng.normal(0, 6, canvas.shape)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def _chest_xray(rng: np.random.Generator, size: int) -> np.ndarray:
    img = np.full((size, size), 40, np.float32)
    cv2.ellipse(img, (size // 2, size // 2), (int(size * 0.45), int(size * 0.48)), 0, 0, 360, 150, -1)
    for side in (-1, 1):
        cv2.ellipse(img, (size // 2 + side * size // 5, size // 2), (size // 7, size // 3), 0, 0, 360, 60, -1)
    for k in range(9):
        y = int(size * (0.2 + 0.07 * k))
        for side in (-1, 1):
            cv2.ellipse(img, (size // 2, y), (int(size * 0.38), size // 14), 0, 180 if side < 0 else 0,
                        270 if side < 0 else 90, 200, 3)
    cv2.rectangle(img, (size // 2 - size // 30, size // 10), (size // 2 + size // 30, size - size // 10), 210, -1)
    img = cv2.GaussianBlur(img, (0, 0), 2) + rng.normal(0, 5, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _hand_xray(rng: np.random.Generator, size: int) -> np.ndarray:
    img = np.full((size, size), 15, np.float32)
    cv2.ellipse(img, (size // 2, int(size * 0.75)), (size // 5, size // 6), 0, 0, 360, 90, -1)
    for k in range(5):
        angle = -40 + 20 * k + rng.uniform(-5, 5)
        x = int(size / 2 + np.sin(np.radians(angle)) * size * 0.35)
        y = int(size * 0.75 - np.cos(np.radians(angle)) * size * 0.45)
        cv2.line(img, (size // 2, int(size * 0.75)), (x, y), 90, int(size * 0.06))
        cv2.line(img, (size // 2, int(size * 0.75)), (x, y), 210, int(size * 0.02))
    img = cv2.GaussianBlur(img, (0, 0), 1.5) + rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _knee(rng: np.random.Generator, size: int) -> np.ndarray:
    img = np.full((size, size), 20, np.float32)
    cv2.rectangle(img, (int(size * 0.3), 0), (int(size * 0.7), size), 80, -1)
    cv2.ellipse(img, (size // 2, int(size * 0.42)), (int(size * 0.16), int(size * 0.08)), 0, 0, 180, 220, -1)
    cv2.rectangle(img, (int(size * 0.42), 0), (int(size * 0.58), int(size * 0.42)), 220, -1)
    cv2.rectangle(img, (int(size * 0.4), int(size * 0.55)), (int(size * 0.6), size), 220, -1)
    img = cv2.GaussianBlur(img, (0, 0), 2) + rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_ood_images(seed: int = 0, size: int = 256) -> list[OodImage]:
    """Seeded synthetic non-MRI images (documents, cells, other body parts, noise, flat, patterns)."""
    rng = np.random.default_rng(seed)
    out: list[OodImage] = []

    def add(name: str, category: str, image: np.ndarray) -> None:
        out.append(OodImage(f"syn-{name}", category, _rgb_from(image)))

    for i in range(6):
        add(f"document{i}", "document", _document(rng, size, dark=i == 5))
    for i in range(4):
        add(f"cells{i}", "microscopy", _cells(rng, size, stained=i % 2 == 0))
    for i in range(3):
        add(f"chest{i}", "body-part", _chest_xray(rng, size))
        add(f"hand{i}", "body-part", _hand_xray(rng, size))
        add(f"knee{i}", "body-part", _knee(rng, size))
    add("noise-gauss", "noise", np.clip(rng.normal(128, 50, (size, size)), 0, 255).astype(np.uint8))
    add("noise-uniform", "noise", rng.integers(0, 256, (size, size), dtype=np.uint8))
    add("noise-color", "noise", rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    add("noise-dark", "noise", np.clip(rng.normal(20, 15, (size, size)), 0, 255).astype(np.uint8))
    salt = np.zeros((size, size), np.uint8)
    salt[rng.random((size, size)) < 0.05] = 255
    add("noise-salt", "noise", salt)
    blurred = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 8)
    add("noise-smooth", "noise", cv2.normalize(blurred, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8))
    for value in (0, 1, 30, 128, 200, 255):
        add(f"flat{value}", "flat", np.full((size, size), value, np.uint8))
    for name, color in (("red", (220, 30, 30)), ("green", (30, 200, 60)), ("blue", (40, 60, 220))):
        add(f"flat-{name}", "flat", np.full((size, size, 3), color, np.uint8))
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    add("gradient-h", "flat", np.tile(ramp, (size, 1)).astype(np.uint8))
    add("gradient-radial", "flat", (255 - np.clip(np.hypot(*np.meshgrid(ramp - 128, ramp - 128)) * 1.4, 0, 255))
        .astype(np.uint8))
    yy, xx = np.mgrid[0:size, 0:size]
    add("stripes", "pattern", ((xx // 16) % 2 * 255).astype(np.uint8))
    add("checker", "pattern", (((xx // 32) + (yy // 32)) % 2 * 255).astype(np.uint8))
    add("rings", "pattern", ((np.sin(np.hypot(xx - size / 2, yy - size / 2) / 4) > 0) * 255).astype(np.uint8))
    return out


def _rgb_from(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def ood_images(seed: int = 0) -> list[OodImage]:
    """``package_images()`` followed by ``synthetic_ood_images(seed)``."""
    return [*package_images(), *synthetic_ood_images(seed)]


def write_ood_images(out_dir: str | Path, images: list[OodImage] | None = None) -> list[Path]:
    """Write ``<category>__<name>.png`` files into ``out_dir`` (created); returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in ood_images() if images is None else images:
        path = out_dir / f"{item.category}__{item.name}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(item.image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: cannot write image; check that the folder is writable")
        paths.append(path)
    return paths
