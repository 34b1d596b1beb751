#!/usr/bin/env bash
# Check the ONNX models on an NVIDIA GPU: onnxruntime-gpu in its own venv, `tumorscope predict --provider
# CUDAExecutionProvider` on N evenly spaced official Testing images, compared with the CPU run of the same venv
# (scripts/compare_predictions.py: same labels, probabilities within its cross-platform tolerance, mask Dice >= 0.98),
# then the per-image latency of both (median of the `timings_ms` of predict, one worker).
#
# Usage: scripts/check_gpu.sh [--images N] [--data DIR] [--venv DIR] [--wheel FILE] [--model-dir DIR]
# Env:   TUMORSCOPE_DATA (data root; default ../shared/data), PYTHON (default python3).
# Online (default): needs PyPI (onnxruntime-gpu and its nvidia-* CUDA/cuDNN wheels; the venv is kept for the next
# run). Offline: --wheel FILE installs that onnxruntime-gpu wheel with no index into a venv that sees $PYTHON's
# site-packages, whose numpy/OpenCV/click/setuptools and CUDA/cuDNN (nvidia-* wheels, e.g. PyTorch's) it uses.
# --model-dir (default models/): the shipped .int8.onnx files use integer operators (QLinearConv), which the CUDA
# provider leaves on the CPU; export the QDQ layout for the GPU first (README: GPU) and pass its folder.
# Exit code 0 only when the GPU really ran (no CPU fallback) and every check passed.
# For research and education only - not for clinical diagnosis.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DATA=${TUMORSCOPE_DATA:-$REPO/../shared/data}
PYTHON=${PYTHON:-python3}
VENV=$REPO/.cache/gpu-venv
N=100
WHEEL=
MODELS=$REPO/models
PROB_TOL=0.1

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "FAIL: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --images) N=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --venv) VENV=$2; shift 2 ;;
        --wheel) WHEEL=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
        --model-dir) MODELS=$(cd "$2" && pwd); shift 2 ;;
        -h|--help) usage 0 ;;
        *) usage 2 ;;
    esac
done
[ -d "$DATA/brain-tumor-mri/Testing" ] || die "no $DATA/brain-tumor-mri/Testing; pass --data or set TUMORSCOPE_DATA"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
    || echo "note: nvidia-smi not found; the check fails below if CUDA is unusable" >&2

if [ -n "$WHEEL" ]; then
    [ -f "$WHEEL" ] || die "no wheel $WHEEL"
    echo "== offline venv $VENV (sees $PYTHON's site-packages): tumorscope + $(basename "$WHEEL")"
    rm -rf "$VENV"
    "$PYTHON" -m venv --without-pip "$VENV"
    # a .pth file rather than --system-site-packages: $PYTHON may itself be a venv (e.g. PyTorch's); pip comes from it
    "$PYTHON" -c "import site; print('\n'.join(site.getsitepackages()))" \
        > "$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_path('purelib'))")/host-site.pth"
    "$VENV/bin/python" -m pip install -q --no-index --no-deps --no-build-isolation "$REPO"
    "$VENV/bin/python" -m pip install -q --no-index --no-deps "$WHEEL"  # shadows a CPU onnxruntime of $PYTHON
elif [ ! -x "$VENV/bin/tumorscope" ]; then
    echo "== venv $VENV: tumorscope (runtime only) + onnxruntime-gpu"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q "$REPO"
    "$VENV/bin/pip" uninstall -q -y onnxruntime  # both wheels provide the `onnxruntime` module
    "$VENV/bin/pip" install -q "onnxruntime-gpu[cuda,cudnn]>=1.20"
fi
PY=$VENV/bin/python
"$PY" -c "import onnxruntime as ort, sys; p = ort.get_available_providers(); print('onnxruntime', ort.__version__, p); \
sys.exit(0 if 'CUDAExecutionProvider' in p else 1)" || die "this onnxruntime build has no CUDAExecutionProvider"

OUT=$(mktemp -d "${TMPDIR:-/tmp}/tumorscope-gpu.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
mkdir -p "$OUT/cpu" "$OUT/gpu"
"$PY" - "$DATA" "$N" > "$OUT/images.txt" <<'EOF'
import sys
from pathlib import Path
import numpy as np
files = sorted(Path(sys.argv[1], "brain-tumor-mri", "Testing").glob("*/*.jpg"))
for i in np.linspace(0, len(files) - 1, min(int(sys.argv[2]), len(files))).round().astype(int):
    print(files[i])
EOF
mapfile -t IMAGES < "$OUT/images.txt"
echo "== ${#IMAGES[@]} Testing images"

GPU=(--provider CUDAExecutionProvider --provider CPUExecutionProvider)
for side in cpu gpu; do
    extra=(); [ "$side" = gpu ] && extra=("${GPU[@]}")
    # warm-up run (CUDA context, cuDNN autotuning), then the measured one with a single worker
    "$VENV/bin/tumorscope" predict --model-dir "$MODELS" --workers 1 --json "${extra[@]}" "${IMAGES[@]:0:4}" >/dev/null
    "$VENV/bin/tumorscope" predict --model-dir "$MODELS" --workers 1 --json "${extra[@]}" "${IMAGES[@]}" \
        > "$OUT/$side/predict.onnx.json" 2> "$OUT/$side/stderr.txt" || true
    if grep -q "not available" "$OUT/$side/stderr.txt"; then cat "$OUT/$side/stderr.txt" >&2; die "CUDA fell back to CPU"; fi
    "$PY" "$REPO/scripts/dump_masks.py" --backend onnx --model-dir "$MODELS" --out "$OUT/$side/masks.onnx.npz" \
        "${extra[@]}" "${IMAGES[@]}"
done

# The CUDA provider runs the int8 (QDQ) graph as dequantize -> fp32 kernel -> quantize, not with the CPU's integer
# kernels, so requantization rounds differently and probabilities move by a few hundredths (0.06 at most on the
# 100-image check); labels and masks are what must agree.
echo "== CPU vs GPU (same labels, probabilities within $PROB_TOL, mask Dice >= 0.98)"
status=0
"$PY" "$REPO/scripts/compare_predictions.py" "$OUT/cpu" "$OUT/gpu" --backends onnx --names cpu,gpu \
    --prob-tol "$PROB_TOL" --min-dice 0.98 | grep -v " PASS$" || status=1  # pipefail: the comparison's exit code

"$PY" - "$OUT" <<'EOF'
import json, sys
import numpy as np
for side in ("cpu", "gpu"):
    rows = json.load(open(f"{sys.argv[1]}/{side}/predict.onnx.json"))
    t = {k: np.median([r["timings_ms"][k] for r in rows if r["error"] is None]) for k in ("classify", "segment", "total")}
    print(f"{side}: median ms per image: classify {t['classify']:.2f}, segment {t['segment']:.2f}, "
          f"total {t['total']:.2f} (decode + both models + measurements), {len(rows)} images")
EOF
[ $status -eq 0 ] && echo "PASS: GPU results agree with CPU" || echo "FAIL: GPU results differ from CPU (see above)"
echo "For research and education only - not for clinical diagnosis."
exit $status
