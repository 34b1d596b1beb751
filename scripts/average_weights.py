"""Average the weights of checkpoints of one architecture (stochastic weight averaging, Izmailov et al.,
UAI 2018; "model soups", Wortsman et al., ICML 2022) into one Keras model with its spec.

    python scripts/average_weights.py runs/seg-v6/epochs/epoch_0*.weights.h5 --out runs/seg-swa/segmenter.keras
    python scripts/average_weights.py runs/cls-guided/classifier.keras old/classifier.keras --mix 0.85 0.15 \
        --task classifier --out runs/cls-mix/classifier.keras

Inputs are ``.keras`` models or ``.weights.h5`` checkpoints of one architecture: that of ``--like M.keras``, else
of the first ``.keras`` input, else ``build_segmenter()`` (default width and depth) or, with ``--task classifier``,
``build_classifier()`` (128x128). ``--mix`` gives each input's share (default equal shares). Batch-norm statistics
are averaged like the weights. The output gets the task's spec (a segmenter's ``min_region_pct`` from that
reference model's spec, when it has one); score it with ``tumorscope evaluate TASK --model OUT``.

    python scripts/average_weights.py runs/seg-mirror/epochs/epoch_{07..12}.weights.h5 \
        --like runs/seg-mirror/segmenter.keras --out runs/seg-mirror-swa/segmenter.keras
For research and education only - not for clinical diagnosis.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tumorscope import DISCLAIMER


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", type=Path, nargs="+", help=".keras models or .weights.h5 checkpoints")
    parser.add_argument("--out", type=Path, required=True, help="the averaged .keras model")
    parser.add_argument("--mix", type=float, nargs="*", default=None, help="one share per input (normalized)")
    parser.add_argument("--task", choices=("segmenter", "classifier"), default="segmenter")
    parser.add_argument("--like", type=Path, default=None,
                        help="a .keras model with the inputs' architecture (default: the first .keras input)")
    args = parser.parse_args(argv)
    if args.mix is not None and len(args.mix) != len(args.inputs):
        print(f"FAIL: {len(args.mix)} --mix shares for {len(args.inputs)} inputs; give one per input", file=sys.stderr)
        return 2
    missing = [str(p) for p in [*args.inputs, *([args.like] if args.like else [])] if not p.is_file()]
    if missing:
        print(f"FAIL: {missing[0]} not found; pass existing checkpoints", file=sys.stderr)
        return 2

    import keras
    import numpy as np

    from tumorscope.datasets import CLASS_NAMES
    from tumorscope.runtime.spec import load_spec, save_spec, spec_path_for
    from tumorscope.training.models import build_classifier, build_segmenter
    from tumorscope.training.train import classifier_spec, save_for_inference, segmenter_spec

    reference = args.like or next((p for p in args.inputs if p.suffix == ".keras"), None)
    spec_of = classifier_spec if args.task == "classifier" else segmenter_spec
    if reference is not None:
        model = keras.models.load_model(reference, compile=False)
    else:
        model = build_classifier(len(CLASS_NAMES)) if args.task == "classifier" else build_segmenter()
    shares = np.array(args.mix if args.mix is not None else [1.0] * len(args.inputs), dtype=np.float64)
    shares = shares / shares.sum()
    total = None
    for path, share in zip(args.inputs, shares, strict=True):
        if path.suffix == ".keras":
            weights = keras.models.load_model(path, compile=False).get_weights()
        else:
            model.load_weights(path)
            weights = model.get_weights()
        scaled = [share * w.astype(np.float64) for w in weights]
        total = scaled if total is None else [t + s for t, s in zip(total, scaled, strict=True)]
    model.set_weights([t.astype(np.float32) for t in total])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_for_inference(model, args.out)
    spec = spec_of(model.input_shape[1:3])
    if args.task == "segmenter" and reference is not None and spec_path_for(reference).is_file():
        spec = spec.replace(min_region_pct=load_spec(reference).min_region_pct)
    save_spec(spec, args.out)
    print(f"wrote {args.out}: the average of {len(args.inputs)} checkpoints (shares "
          f"{', '.join(f'{s:.3f}' for s in shares)})")
    print(DISCLAIMER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
