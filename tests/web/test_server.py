"""The server side: no TensorFlow, concurrent requests on both backends, and `tumorscope serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tumorscope import DISCLAIMER


def _post_image(url: str, data: bytes, name: str = "slice.png") -> dict:
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def test_app_serves_without_tensorflow(web_model_dir, slice_png, tmp_path):
    """Create the app and analyse an image with TensorFlow/Keras made unimportable, then check sys.modules."""
    image = tmp_path / "slice.png"
    image.write_bytes(slice_png)
    script = textwrap.dedent(f"""
        import io, sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "keras", "tf2onnx", "tf_keras"):
                    raise ImportError("blocked for the test: " + name)
        sys.meta_path.insert(0, Block())
        from tumorscope.web import create_app
        for backend in ("onnx", "tflite"):
            client = create_app({str(web_model_dir)!r}, backend=backend).test_client()
            data = open({str(image)!r}, "rb").read()
            response = client.post("/predict", data={{"image": (io.BytesIO(data), "slice.png")}})
            assert response.status_code == 200, response.status_code
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf2onnx")))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("backend", ["onnx", "tflite"])
def test_concurrent_requests_match_sequential_results(backend, web_model_dir, slice_png, slice_jpeg, live_server):
    from tumorscope.web import create_app

    base = live_server(create_app(web_model_dir, backend=backend))
    images = [slice_png, slice_jpeg] * 6
    expected = [_post_image(f"{base}/api/predict", image) for image in images[:2]] * 6
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda image: _post_image(f"{base}/api/predict", image), images))
    for got, want in zip(results, expected, strict=True):
        assert got["error"] is None and got["backend"] == backend
        assert got["probabilities"] == want["probabilities"]
        assert got["tumor_area_pct"] == want["tumor_area_pct"]


def test_serve_command_prints_url_and_disclaimer_and_answers(web_model_dir):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tumorscope.cli", "serve", "--port", "0", "--model-dir", str(web_model_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        first, second = process.stdout.readline(), process.stdout.readline()
        assert first.startswith("tumorscope web app on http://127.0.0.1:"), first + process.stderr.read()
        assert second.strip() == DISCLAIMER
        url = first.split(" on ", 1)[1].split()[0]
        with urllib.request.urlopen(url + "healthz", timeout=30) as response:
            assert json.load(response)["status"] == "ok"
        with urllib.request.urlopen(url, timeout=30) as response:
            assert b'id="upload-form"' in response.read()
    finally:  # SIGTERM, as process managers send; SIGINT is ignored in background shells (`... &`)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0


def test_serve_command_with_a_missing_model_dir_fails_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tumorscope.cli", "serve", "--model-dir", str(tmp_path / "none")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: models folder") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_models_that_load_but_cannot_run_fail_at_start_not_per_request(web_model_dir, monkeypatch):
    from tumorscope.runtime import Analysis, Pipeline
    from tumorscope.web import create_app

    def failing(self, image, name="<image>"):
        return Analysis(name=name, error=f"{name}: inference failed (broken kernel)")

    monkeypatch.setattr(Pipeline, "analyze", failing)
    with pytest.raises(RuntimeError, match="cannot run: warm-up image: inference failed"):
        create_app(web_model_dir)
