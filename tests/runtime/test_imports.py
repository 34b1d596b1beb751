"""The runtime stays light: no TensorFlow, Keras or other tumorscope subpackages on import."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("tensorflow", "keras", "tf_keras", "tf2onnx", "torch")


def _modules_after(code: str) -> list[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_runtime_pulls_in_nothing_heavy():
    modules = _modules_after("import tumorscope.runtime")
    assert "tumorscope.runtime.pipeline" in modules
    assert not [m for m in modules if m.split(".")[0] in HEAVY]
    others = [m for m in modules if m.startswith("tumorscope.") and not m.startswith("tumorscope.runtime")]
    assert others == [], f"runtime imported other tumorscope modules: {others}"
    # backends are imported lazily, only when a model is opened
    assert "onnxruntime" not in modules and "ai_edge_litert" not in modules and "pydicom" not in modules
