"""Measure the trust layer of deployable models on real data (TensorFlow-free).

    python scripts/measure_trust.py --model-dir models --data ../shared/data --backend onnx --json trust.json
    python scripts/measure_trust.py --model-dir models --data ../shared/data --backend tflite --write-ood /tmp/ood

Prints (and with --json writes) the input check's flag rates (OOD set, official test, val, independent
tumour-free slices), the pointing game on Figshare test slices (all, and those the classifier never trained
on), the consistency rule over the official test split and the independent tumour-free slices, and the input
check's cost. Targets (issue #13):
OOD flagged >= 95 %, test <= 1 %, notumor-indep <= 5 %, pointing game >= 0.80, cost <= 10 %.
--write-ood DIR also writes the OOD images as PNGs (never commit them).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tumorscope import DISCLAIMER
from tumorscope.assess.items import pick_evenly
from tumorscope.datasets import resolve_data_root
from tumorscope.evaluation.evaluate import evaluate
from tumorscope.runtime import BackendOptions, Classifier, Pipeline, load_image, model_files
from tumorscope.trust.measure import consistency, flag_rates, independent_tumor_free, input_check_cost
from tumorscope.trust.oodset import write_ood_images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models"))
    parser.add_argument("--data", default=None, help="data root [env TUMORSCOPE_DATA]")
    parser.add_argument("--backend", choices=("onnx", "tflite"), default="onnx")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="at most N images per real set (default: all)")
    parser.add_argument("--pointing-count", type=int, default=None,
                        help="Figshare test slices per pointing split (default: all 500 / 210 unseen)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: rates, val, pointing, "
                        "consistency, cost")
    parser.add_argument("--baseline-model-dir", type=Path, default=None,
                        help="also time this folder's classifier (e.g. one exported without trust outputs), same run")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    parser.add_argument("--write-ood", type=Path, default=None, help="also write the OOD images into this folder")
    args = parser.parse_args(argv)
    root = resolve_data_root(args.data)
    skip = set(filter(None, args.skip.split(",")))
    options = BackendOptions(threads=args.threads)
    files = model_files(args.model_dir, args.backend)
    report: dict = {"backend": args.backend, "model": str(files["classifier"]), "disclaimer": DISCLAIMER}
    if args.write_ood:
        report["ood_written"] = len(write_ood_images(args.write_ood))
    with Classifier.create_from_path(files["classifier"], options) as classifier:
        if "rates" not in skip:
            splits = ("test",) if "val" in skip else ("test", "val")
            report["flag_rates"] = flag_rates(classifier, root, args.limit, splits)
        if "pointing" not in skip:
            report["pointing_game"] = [
                evaluate("classifier", files["classifier"], root, split, args.pointing_count, options)
                .result["pointing_game"] | {"split": split} for split in ("figshare-test", "figshare-test-unseen")]
        if "cost" not in skip:
            gliomas = sorted((root / "brain-tumor-mri" / "Testing" / "glioma").glob("*.jpg"))
            image = load_image(pick_evenly(gliomas, 1)[0])
            report["cost"] = input_check_cost(classifier, image)
            if args.baseline_model_dir:
                baseline = model_files(args.baseline_model_dir, args.backend)["classifier"]
                with Classifier.create_from_path(baseline, options) as plain:
                    report["cost"]["baseline_classify_p50_ms"] = input_check_cost(plain, image)["classify_p50_ms"]
                report["cost"]["trust_outputs_share"] = round(
                    report["cost"]["classify_p50_ms"] / report["cost"]["baseline_classify_p50_ms"] - 1, 4)
    if "consistency" not in skip:
        with Pipeline.from_model_dir(args.model_dir, args.backend, options) as pipeline:
            report["consistency"] = [consistency(pipeline, root, "test", args.limit)]
            name, paths = independent_tumor_free(root)
            row = consistency(pipeline, root, paths=pick_evenly(paths, args.limit))
            report["consistency"].append(row | {"set": name})
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
