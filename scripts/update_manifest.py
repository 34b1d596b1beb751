"""Write models/manifest.json: every shipped model file with its sha256, spec, training summary and
metrics measured now on the real splits (Keras originals and int8 deployables alike).

    python scripts/update_manifest.py --data ../shared/data --runs /path/to/cls_run /path/to/seg_run
    python scripts/update_manifest.py --data ../shared/data --runs /path/to/seg_run --tasks segmenter
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tumorscope import DISCLAIMER
from tumorscope.datasets import POINTING_SPLITS, classification_items, load_split
from tumorscope.evaluation.evaluate import evaluate
from tumorscope.manifest import file_entry, read_manifest, write_manifest
from tumorscope.runtime.spec import INTENDED_USE, load_spec

SPLITS = {"classifier": ("test", "test-dedup", "notumor-indep", "figshare-test", "figshare-test-unseen", "val"),
          "segmenter": ("test", "brisc-test", "notumor-official", "notumor-indep", "val")}
CLASSIFIER_KEYS = ("n", "accuracy", "macro_auc", "macro_f1", "ece", "specificity", "pointing_game")
SEGMENTER_KEYS = ("n", "dice", "dice_median", "iou", "area_pct_mae", "per_plane", "per_type", "any_tumor_share",
                  "false_area_pct_mean")
DATA = {
    "classifier": "Brain Tumor MRI Dataset (Kaggle masoudnickparvar; Figshare + SARTAJ + Br35H), 224x224 JPEG, "
                  "+ BRISC 2025 tumour-free T1 slices (all planes) outside notumor-indep",
    "segmenter": "Figshare brain tumor dataset (Jun Cheng, CC BY 4.0), T1-CE slices at 256x256 with tumor masks, "
                 "+ BRISC 2025 expert masks (leak-filtered) and tumour-free slices (the classifier's train notumor)",
}


def _metrics(task: str, path: Path, data: Path) -> dict:
    keys = CLASSIFIER_KEYS if task == "classifier" else SEGMENTER_KEYS
    splits = SPLITS[task] if path.suffix == ".keras" else SPLITS[task][:-1]  # deployables: no val
    out = {}
    for split in splits:
        result = evaluate(task, path, data, split=split).result
        out[split] = {k: result[k] for k in keys if k in result}
        print(f"{path.name:28s} {split:13s} " + " ".join(f"{k}={v}" for k, v in out[split].items()), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--runs", type=Path, nargs="*", default=[], help="training run folders (training.json)")
    parser.add_argument("--tasks", nargs="+", choices=tuple(SPLITS), default=list(SPLITS),
                        help="re-measure only these models' files; the others' entries stay as they are")
    args = parser.parse_args()
    manifest = read_manifest(args.models)
    manifest.update({"intended_use": INTENDED_USE, "disclaimer": DISCLAIMER, "models": manifest.get("models", {})})
    for run in args.runs:
        summary = json.loads((run / "training.json").read_text())
        manifest.setdefault("training", {})[summary["task"]] = summary
    for task in args.tasks:
        splits = {s: len(classification_items(args.data, s) if s in POINTING_SPLITS else load_split(task, s))
                  for s in SPLITS[task] + ("train",)}
        for path in sorted(args.models.glob(f"{task}.*")):
            if path.name.endswith(".spec.json"):
                continue
            entry = file_entry(path)
            spec = load_spec(path)
            entry.update({"task": task, "format": spec.format, "input_size": list(spec.input_size),
                          "labels": list(spec.labels), "data": DATA[task], "split_sizes": splits,
                          "metrics": _metrics(task, path, args.data)})
            manifest["models"][path.name] = entry
    print(f"wrote {write_manifest(args.models, manifest)}")


if __name__ == "__main__":
    main()
