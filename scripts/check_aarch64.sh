#!/usr/bin/env bash
# Prove the tumorscope runtime on 64-bit ARM (Raspberry Pi class) by qemu user-mode emulation.
#
# Builds the wheel on this host (`pip wheel --no-deps`: the package plus the int8 models of models/), builds a
# Debian bookworm arm64 root file system (the base of Raspberry Pi OS 64-bit, Python 3.11), installs the wheel
# there with its runtime-only dependencies from PyPI's aarch64 wheels (no extras, no source tree), runs
# `tumorscope predict --json` with each backend and no model options (the models installed with the package) on
# real test images (one per class plus one segmentation slice) under an emulated Cortex-A72 (Raspberry Pi 4), runs
# the same on this x86-64 host with --model-dir models, and compares: same labels, probabilities within 0.02, mask
# Dice >= 0.98 (scripts/compare_predictions.py). Exit code 0 only when all pass.
#
# Usage: scripts/check_aarch64.sh [--backends onnx,tflite] [--cpu cortex-a72|cortex-a76|max] [--data DIR] [--fresh]
# Env:   TUMORSCOPE_DATA (data root, needed), PYTHON (host interpreter with tumorscope and pip installed; default:
#        python3), TUMORSCOPE_AARCH64_CACHE (default .cache/aarch64).
# Needs root (chroot, mounts, binfmt_misc) and network access to Debian's and PyPI's package servers on the first
# run; later runs reuse the cached root file system and its installed venv. For research and education only.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${TUMORSCOPE_AARCH64_CACHE:-$REPO/.cache/aarch64}
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
PACKAGES=python3-venv,libstdc++6,bash
BACKENDS=onnx,tflite
CPU=cortex-a72
MODEL_DIR=$REPO/models  # what the wheel carries; the host predicts with these files
DATA=${TUMORSCOPE_DATA:-}
PYTHON=${PYTHON:-python3}
PYTHON=$(realpath -s "$(command -v "$PYTHON" || echo "$PYTHON")")  # absolute (the script changes directory), venv links kept
FRESH=0

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "FAIL: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --backends) BACKENDS=$2; shift 2 ;;
        --cpu) CPU=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --fresh) FRESH=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
done

ROOT=$CACHE/rootfs
OUT=$CACHE/out
PHASES=()
phase_start=0
# CPU seconds (user + system) of this shell's finished children, in CPU_NOW; beside the wall time it shows how much
# of a phase was work rather than waiting (network, a busy machine). `times` must run in this shell, not a subshell.
read_cpu() {
    times >"$CACHE/.times"
    CPU_NOW=$(awk 'END { s = 0; for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] }
                         printf "%.1f", s }' "$CACHE/.times")
}
since() {  # since WALL_START CPU_START -> "  12.3 s wall    4.5 s cpu"
    read_cpu
    SINCE=$(awk -v a="$1" -v b="$(date +%s.%N)" -v c="$2" -v d="$CPU_NOW" \
                'BEGIN { printf "%7.1f s wall %7.1f s cpu", b - a, d - c }')
}
begin() { read_cpu; phase_start=$(date +%s.%N) phase_cpu=$CPU_NOW; echo "== $1"; }
end() { since "$phase_start" "$phase_cpu"; PHASES+=("$(printf '%-28s %s' "$1" "$SINCE")"); }

[ "$(id -u)" = 0 ] || die "run as root (chroot, mounts and binfmt_misc need it)"
[ -n "$DATA" ] && [ -d "$DATA/brain-tumor-mri" ] || die "set TUMORSCOPE_DATA (or --data) to the data root"
DATA=$(cd "$DATA" && pwd)
IFS=, read -r -a BACKEND_LIST <<<"$BACKENDS"
for backend in "${BACKEND_LIST[@]}"; do
    ext=$([ "$backend" = tflite ] && echo tflite || echo onnx)
    for task in classifier segmenter; do
        [ -f "$MODEL_DIR/$task.int8.$ext" ] || die "$MODEL_DIR/$task.int8.$ext missing; export the models first"
    done
done
"$PYTHON" -c "import tumorscope.predict" 2>/dev/null \
    || die "$PYTHON cannot import tumorscope; set PYTHON to the interpreter of the host install"
mkdir -p "$CACHE"
read_cpu
started=$(date +%s.%N) started_cpu=$CPU_NOW

# --- 1. host tools: qemu-user-static (the emulator), mmdebstrap (the root file system), binfmt_misc -------------
begin "host tools"
if ! command -v qemu-aarch64-static >/dev/null || ! command -v mmdebstrap >/dev/null \
        || ! command -v arch-test >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends qemu-user-static mmdebstrap arch-test >/dev/null
fi
BINFMT=/proc/sys/fs/binfmt_misc
[ -f "$BINFMT/register" ] || mount -t binfmt_misc binfmt_misc "$BINFMT" \
    || die "cannot mount binfmt_misc at $BINFMT (needed to run arm64 programs transparently)"
if [ ! -f "$BINFMT/qemu-aarch64" ]; then
    # The F flag makes the kernel open the emulator now, so it also works inside the chroot.
    cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$BINFMT/register" \
        || die "cannot register qemu-aarch64 in binfmt_misc"
fi
grep -q enabled "$BINFMT/qemu-aarch64" || die "binfmt_misc entry qemu-aarch64 is disabled"
cpus=$(qemu-aarch64-static -cpu help || true)  # exits 1 after listing
grep -qw -- "$CPU" <<<"$cpus" || die "qemu-aarch64 has no cpu model $CPU; choose one of:$(tail -n +2 <<<"$cpus" | tr -s ' \n' ' ')"
end "host tools"

# --- 2. Debian arm64 root file system, packages extracted on the host (no emulation needed) ----------------------
begin "root file system"
STAMP="$SUITE $PACKAGES"
if [ "$FRESH" = 1 ] || [ "$(cat "$ROOT/.tumorscope-stamp" 2>/dev/null)" != "$STAMP" ]; then
    rm -rf "$ROOT" "$ROOT.tmp"
    mmdebstrap --quiet --arch=arm64 --variant=extract --include="$PACKAGES" "$SUITE" "$ROOT.tmp" "$MIRROR"
    echo "$STAMP" >"$ROOT.tmp/.tumorscope-stamp"
    mv "$ROOT.tmp" "$ROOT"
fi
mkdir -p "$ROOT"/{proc,sys,dev,root,tmp,etc/ssl/certs,mnt/data,mnt/out}
# Package scripts do not run in an extracted tree: bring the host's CA bundle (pip's TLS) and DNS configuration.
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
# qemu-user shows the host's x86 /proc/cpuinfo, which crashes onnxruntime's CPU detection at import; show the
# emulated CPU's instead (part 0xd08 Cortex-A72, 0xd0b Cortex-A76), one entry per host core.
case "$CPU" in
    cortex-a72) part=0xd08; features="fp asimd evtstrm crc32 cpuid" ;;
    cortex-a76) part=0xd0b; features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" ;;
    *) part=0xd0c; features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" ;;
esac
for ((i = 0; i < $(nproc); i++)); do
    printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\n' \
        "$i" "$features"
    printf 'CPU variant\t: 0x0\nCPU part\t: %s\nCPU revision\t: 3\n\n' "$part"
done >"$ROOT/etc/tumorscope-cpuinfo"
end "root file system"

# Run a command inside the root file system, emulated, in a private mount namespace (mounts vanish on exit).
# Only the data (read-only) and the output folder are mounted: the models come from the installed wheel.
in_arm() {
    unshare --mount --propagation private bash -c '
        set -e
        root=$1 cpu=$2 data=$3 out=$4; shift 4
        mount -t proc proc "$root/proc"
        mount --bind "$root/etc/tumorscope-cpuinfo" "$root/proc/cpuinfo"
        mount -t sysfs sysfs "$root/sys"
        mount --rbind /dev "$root/dev"
        mount --bind -o ro "$data" "$root/mnt/data"
        mount --bind "$out" "$root/mnt/out"
        exec env -i QEMU_CPU="$cpu" PATH=/opt/venv/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
            PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
            PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 PIP_NO_INPUT=1 \
            /usr/sbin/chroot "$root" /bin/bash -c "$@"' \
        in_arm "$ROOT" "$CPU" "$DATA" "$OUT/aarch64" "$@"
}

# --- 3. the wheel, built on this host, installed in the emulated venv with its aarch64 dependencies ---------------
rm -rf "$OUT"
mkdir -p "$OUT/aarch64" "$OUT/x86_64"
# What the wheel is built from (tracked and new files, no ignored build outputs), plus the mask dumper.
sources() {
    git -C "$REPO" ls-files -z --cached --others --exclude-standard -- pyproject.toml 'setup.*' MANIFEST.in \
        'README*' 'LICENSE*' tumorscope 'models/*.int8.*' models/manifest.json scripts/dump_masks.py
}
digest=$(cd "$REPO" && sources | xargs -0 sha256sum 2>/dev/null | sha256sum | cut -c1-64)
if [ "$(cat "$ROOT/opt/venv/.tumorscope-src" 2>/dev/null)" = "$digest" ]; then
    echo "== build + install wheel: sources and models unchanged since the last install, keeping the venv"
else
    begin "build wheel (host)"
    rm -rf "$CACHE/wheel" "$ROOT/src"
    "$PYTHON" -m pip wheel --no-deps --quiet -w "$CACHE/wheel" "$REPO" >"$CACHE/wheel.log" 2>&1 \
        || { tail -20 "$CACHE/wheel.log" >&2; die "pip wheel failed (log: $CACHE/wheel.log)"; }
    wheels=("$CACHE"/wheel/tumorscope-*.whl)
    WHEEL=$(basename "${wheels[0]}")
    echo "$WHEEL: $(stat -c %s "${wheels[0]}") bytes"
    mkdir -p "$ROOT/src/scripts"
    cp "${wheels[0]}" "$ROOT/src/$WHEEL"
    cp "$REPO/scripts/dump_masks.py" "$ROOT/src/scripts/"
    end "build wheel (host)"

    begin "pip install wheel (emulated)"
    # pip runs from Debian's pip wheel (python3-pip-whl): the runtime venv needs no pip of its own. The same version
    # may be installed already: uninstalling it first makes the new wheel's files (and models) replace it.
    in_arm "
        set -e
        [ -x /opt/venv/bin/python ] || python3 -m venv --without-pip /opt/venv
        wheels=(/usr/share/python-wheels/pip-*.whl)
        /opt/venv/bin/python \${wheels[0]}/pip uninstall --quiet --yes tumorscope 2>/dev/null || true
        /opt/venv/bin/python \${wheels[0]}/pip install --quiet --no-compile /src/$WHEEL"
    echo "$digest" >"$ROOT/opt/venv/.tumorscope-src"
    end "pip install wheel (emulated)"
fi

begin "import check (emulated)"
in_arm '
python - <<EOF
import ctypes, importlib.util, platform, sys
from importlib.metadata import version
import cv2, numpy, onnxruntime
from ai_edge_litert.interpreter import Interpreter
import tumorscope.runtime
getauxval = ctypes.CDLL(None).getauxval
getauxval.restype = ctypes.c_ulong
hwcap = getauxval(16)
packages = ("tumorscope", "numpy", "opencv-python-headless", "onnxruntime", "ai-edge-litert", "click")
print(f"machine={platform.machine()} python={sys.version.split()[0]} hwcap=0x{hwcap:x} dotprod={bool(hwcap >> 20 & 1)}")
print(" ".join(f"{name}=={version(name)}" for name in packages))
assert platform.machine() == "aarch64", platform.machine()
assert importlib.util.find_spec("tensorflow") is None, "the runtime-only install must not pull in TensorFlow"
assert tumorscope.runtime.__file__.startswith("/opt/venv/"), tumorscope.runtime.__file__
EOF
cd /tmp && tumorscope models'
end "import check (emulated)"

# --- 4. the test images: one per class (de-duplicated test split) and one segmentation test slice ---------------
mapfile -t IMAGES < <("$PYTHON" - "$DATA" <<'EOF'
import sys
from pathlib import Path
from tumorscope.datasets import CLASS_NAMES, classification_items, segmentation_items
root = Path(sys.argv[1])
items = classification_items(root, "test-dedup")
for label in range(len(CLASS_NAMES)):
    print(next(i.image for i in items if i.label == label).relative_to(root))
print(segmentation_items(root, "test")[0].image.relative_to(root))
EOF
)
[ "${#IMAGES[@]}" -ge 5 ] || die "could not pick the test images under $DATA"
quoted=$(printf '%q ' "${IMAGES[@]}")

# --- 5. predictions: emulated aarch64 and this x86-64 host, same command, same relative paths --------------------
for backend in "${BACKEND_LIST[@]}"; do
    begin "predict $backend (emulated)"
    # A failure here is reported by the comparison (missing or failed rows), so the other backend still runs.
    in_arm "cd /mnt/data
        tumorscope predict --json --backend $backend $quoted >/mnt/out/predict.$backend.json
        python /src/scripts/dump_masks.py --backend $backend --out /mnt/out/masks.$backend.npz $quoted" \
        || echo "predict $backend (emulated) exited with status $?"
    end "predict $backend (emulated)"
done

begin "predict (x86-64 host)"
host_python=$(command -v "$PYTHON")
for backend in "${BACKEND_LIST[@]}"; do
    (cd "$DATA" \
        && "$host_python" -m tumorscope.cli predict --json --backend "$backend" --model-dir "$MODEL_DIR" \
            "${IMAGES[@]}" >"$OUT/x86_64/predict.$backend.json" \
        && "$host_python" "$REPO/scripts/dump_masks.py" --backend "$backend" --model-dir "$MODEL_DIR" \
            --out "$OUT/x86_64/masks.$backend.npz" "${IMAGES[@]}") || echo "predict $backend (host) exited with status $?"
done
end "predict (x86-64 host)"

# --- 6. compare -----------------------------------------------------------------------------------------------
begin "compare"
status=0
"$PYTHON" "$REPO/scripts/compare_predictions.py" "$OUT/x86_64" "$OUT/aarch64" --backends "$BACKENDS" \
    --json "$OUT/compare.json" || status=$?
end "compare"

echo
echo "phase times (emulated cpu $CPU, $(nproc) host cores):"
printf '  %s\n' "${PHASES[@]}"
since "$started" "$started_cpu"
printf '  %-28s %s\n' total "$SINCE"
echo "outputs: $OUT"
exit "$status"
