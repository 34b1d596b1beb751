"""Web-app fixtures: a models folder with the tiny int8 exports under the names the runtime expects,
an app on it, and synthetic MRI-like uploads (never dataset images)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from tumorscope.runtime import model_files
from tumorscope.runtime.spec import spec_path_for

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC_SLICE = REPO / "examples" / "synthetic_slice.png"
TEST_UPLOAD_MB = 1
"""Upload limit of the test app, small so the 413 test stays cheap."""
_DEPLOY_FORMATS = {"onnx": "onnx-int8", "tflite": "tflite-int8"}


@pytest.fixture(scope="session")
def web_model_dir(tiny_exports, tmp_path_factory) -> Path:
    """``classifier.int8.{onnx,tflite}`` and ``segmenter.int8.{onnx,tflite}`` with their sidecar specs."""
    out = tmp_path_factory.mktemp("web-models")
    for backend, fmt in _DEPLOY_FORMATS.items():
        for task, target in model_files(out, backend).items():
            source = Path(tiny_exports[task][fmt])
            shutil.copyfile(source, target)
            shutil.copyfile(spec_path_for(source), spec_path_for(target))
    return out


@pytest.fixture(scope="session")
def app(web_model_dir):
    from tumorscope.web import create_app

    return create_app(web_model_dir, backend="onnx", max_upload_mb=TEST_UPLOAD_MB)


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def slice_png() -> bytes:
    """The committed synthetic slice (scripts/make_synthetic_mri.py): 256x256 grayscale PNG."""
    return SYNTHETIC_SLICE.read_bytes()


@pytest.fixture(scope="session")
def slice_jpeg(slice_png) -> bytes:
    image = cv2.imdecode(np.frombuffer(slice_png, np.uint8), cv2.IMREAD_GRAYSCALE)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buffer.tobytes()


@pytest.fixture()
def live_server():
    """Start apps on werkzeug's threaded server on a free port; yields ``start(app) -> base URL``."""
    import threading

    from werkzeug.serving import make_server

    servers = []

    def start(flask_app) -> str:
        server = make_server("127.0.0.1", 0, flask_app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
