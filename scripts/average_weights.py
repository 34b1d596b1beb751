"""Average the weights of segmenter checkpoints of one architecture (stochastic weight averaging, Izmailov et al.,
UAI 2018; "model soups", Wortsman et al., ICML 2022) into one Keras model with its spec.

    python scripts/average_weights.py runs/seg-v6/epochs/epoch_0*.weights.h5 --out runs/seg-swa/segmenter.keras

Inputs are ``.keras`` models or ``.weights.h5`` checkpoints of ``build_segmenter()`` (default width and depth);
``--mix`` gives each input's share (default equal shares). Batch-norm statistics are averaged like the weights.
The output gets the segmenter spec; score it with ``tumorscope evaluate segmenter --model OUT``.
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
    args = parser.parse_args(argv)
    if args.mix is not None and len(args.mix) != len(args.inputs):
        print(f"FAIL: {len(args.mix)} --mix shares for {len(args.inputs)} inputs; give one per input", file=sys.stderr)
        return 2
    missing = [str(p) for p in args.inputs if not p.is_file()]
    if missing:
        print(f"FAIL: {missing[0]} not found; pass existing checkpoints", file=sys.stderr)
        return 2

    import keras
    import numpy as np

    from tumorscope.runtime.spec import save_spec
    from tumorscope.training.models import build_segmenter
    from tumorscope.training.train import save_for_inference, segmenter_spec

    model = build_segmenter()
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
    save_spec(segmenter_spec(model.input_shape[1:3]), args.out)
    print(f"wrote {args.out}: the average of {len(args.inputs)} checkpoints (shares "
          f"{', '.join(f'{s:.3f}' for s in shares)})")
    print(DISCLAIMER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
