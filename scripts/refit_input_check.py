"""Refit the input check of exported classifiers in place, without re-exporting them (TensorFlow-free).

    python scripts/refit_input_check.py --model-dir models --data ../shared/data

`tumorscope export` fits the input check whenever it exports a classifier; this script reruns the same fit
(`tumorscope.export.trust.fit_artifact_input_check` on `trust_images_from_data`) on artifacts that already
exist, for when the fit itself changes. It rewrites each artifact's sidecar spec (`<model>.spec.json`, which
the runtime reads first); the model files are untouched. Prints each artifact's val rejection.
For research and education only - not for clinical diagnosis.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tumorscope import DISCLAIMER
from tumorscope.datasets import resolve_data_root
from tumorscope.export.trust import fit_artifact_input_check, trust_images_from_data
from tumorscope.runtime.spec import load_spec, save_spec

ARTIFACTS = ("classifier.int8.onnx", "classifier.int8.tflite")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models"))
    parser.add_argument("--data", default=None, help="data root [env TUMORSCOPE_DATA]")
    args = parser.parse_args(argv)
    root = resolve_data_root(args.data)
    paths = [args.model_dir / name for name in ARTIFACTS if (args.model_dir / name).is_file()]
    if not paths:
        print(f"FAIL: no {' or '.join(ARTIFACTS)} in {args.model_dir}; pass --model-dir", file=sys.stderr)
        return 2
    images = trust_images_from_data(root, load_spec(paths[0]))
    for path in paths:
        spec = load_spec(path)
        if not spec.features_name:
            print(f"FAIL: {path} has no features output; re-export it with `tumorscope export`", file=sys.stderr)
            return 2
        entry = fit_artifact_input_check(path, spec, images, None)
        save_spec(spec.replace(input_check=entry), path)
        print(f"{path}: input check refitted on {entry['fit_images']} training images, "
              f"{entry['val_rejected']:.2%} of {entry['val_images']} val images rejected")
    print(DISCLAIMER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
