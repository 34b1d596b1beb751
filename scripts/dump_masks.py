"""Save the tumor masks that `tumorscope predict` computes, for comparing two platforms by mask Dice.

Runs the same runtime path as `tumorscope predict` (``tumorscope.predict.open_pipeline`` and
``Pipeline.analyze_path``) and writes one ``.npz``: ``paths`` (the inputs, as given) and ``mask_<i>``
(``(H, W)`` bool) for each input ``i`` that was analysed. Needs only the runtime install (no TensorFlow).

Usage:
    python scripts/dump_masks.py --backend onnx --model-dir models --out masks.onnx.npz IMAGE...

For research and education only - not for clinical diagnosis.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tumorscope.predict import open_pipeline
from tumorscope.runtime.errors import one_line

__all__ = ["dump_masks", "main"]


def dump_masks(paths: list[str], out: Path, model_dir: str | None, backend: str,
               providers: tuple[str, ...] | None = None) -> int:
    """Analyse ``paths`` and write their masks to ``out``; returns how many inputs failed (no mask saved).

    ``providers``: ONNX Runtime execution providers, as ``predict --provider`` (None: CPU).
    """
    arrays: dict[str, np.ndarray] = {"paths": np.array(paths, dtype=str)}
    failed = 0
    with open_pipeline(model_dir, backend, providers=providers) as pipeline:
        for index, path in enumerate(paths):
            analysis = pipeline.analyze_path(path)
            if analysis.ok:
                arrays[f"mask_{index}"] = analysis.segmentation.mask.astype(bool)
            else:
                failed += 1
                print(f"error: {analysis.error}", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", help="image files, as passed to `tumorscope predict`")
    parser.add_argument("--backend", choices=("onnx", "tflite"), default="onnx")
    parser.add_argument("--model-dir", default=None, help="folder with classifier.int8.* and segmenter.int8.*")
    parser.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    parser.add_argument("--provider", dest="providers", action="append", default=None,
                        help="ONNX Runtime execution provider, repeatable (as `predict --provider`)")
    args = parser.parse_args(argv)
    try:
        providers = tuple(args.providers) if args.providers else None
        return 1 if dump_masks(args.images, args.out, args.model_dir, args.backend, providers) else 0
    except (FileNotFoundError, ValueError, RuntimeError, ImportError) as exc:
        print(f"error: {one_line(exc, None)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
