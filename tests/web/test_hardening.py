"""Web hardening: bombs refused fast, a bounded number of concurrent analyses, 405 with Allow, the form-part
limit named correctly, no server banner or paths, a clean stop on SIGTERM even when SIGINT is ignored,
an all-black upload, and a bounded concurrent load (200 requests, 8 at a time, half of them bad) with zero
5xx and flat worker memory."""

from __future__ import annotations

import importlib.util
import io
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from tumorscope import DISCLAIMER

REPO = Path(__file__).resolve().parents[2]


def _load_check_bombs():
    """scripts/check_bombs.py as a module: the bomb generators and the multipart upload helper."""
    spec = importlib.util.spec_from_file_location("check_bombs", REPO / "scripts" / "check_bombs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bombs():
    return _load_check_bombs()


def _upload(data: bytes, name: str = "slice.png") -> dict:
    return {"image": (io.BytesIO(data), name)}


_post = _load_check_bombs().post_upload


def test_dicom_bomb_is_refused_with_400_in_well_under_5_s(client, bombs):
    pytest.importorskip("pydicom")
    data = bombs.deflated_dicom(16384)  # 0.5 MB declaring 16384 x 16384 x 16 bit (512 MiB inflated)
    start = time.perf_counter()
    response = client.post("/api/predict", data=_upload(data, "bomb.dcm"))
    assert time.perf_counter() - start < 5
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert "16384x16384 pixels" in error and "over the 16.8 MP limit" in error


def test_png_bomb_is_refused_with_400(client, bombs):
    response = client.post("/api/predict", data=_upload(bombs.rgba16_png(8192), "bomb.png"))
    assert response.status_code == 400 and "8192x8192 pixels" in response.get_json()["error"]


def test_405_carries_allow(client):
    response = client.get("/api/predict")
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert "POST" in allowed and "GET" not in allowed
    other = client.delete("/healthz")
    assert other.status_code == 405 and "GET" in {m.strip() for m in other.headers["Allow"].split(",")}


def test_too_many_form_parts_is_413_and_says_so_not_too_large(client):
    fields = {f"f{i}": "x" for i in range(1100)}  # Werkzeug's default max_form_parts is 1000; body ~200 KB
    response = client.post("/api/predict", data={**fields, **_upload(b"\x89PNG\r\n\x1a\n")})
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert "too many parts" in error and "MB limit" not in error


def test_healthz_reports_the_concurrency_bound(web_model_dir):
    from tumorscope.web import create_app
    from tumorscope.web.service import default_concurrency

    assert create_app(web_model_dir).test_client().get("/healthz").get_json()["max_concurrent"] == (
        default_concurrency())
    assert default_concurrency() >= 1
    with pytest.raises(ValueError, match="at least 1"):
        create_app(web_model_dir, max_concurrent=0)


def test_no_more_than_max_concurrent_analyses_run_at_once(web_model_dir, slice_png, live_server):
    from tumorscope.web import create_app

    app = create_app(web_model_dir, max_concurrent=2)
    analyzer = app.extensions["tumorscope"]
    real, lock, state = analyzer.analyze, threading.Lock(), {"now": 0, "peak": 0}

    def counting(data, name):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)  # hold the slot long enough for the others to pile up
        try:
            return real(data, name)
        finally:
            with lock:
                state["now"] -= 1

    analyzer.analyze = counting
    base = live_server(app)
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = [c for c, _ in pool.map(lambda _: _post(base + "/api/predict", slice_png), range(16))]
    assert codes == [200] * 16
    assert state["peak"] == 2


def test_a_request_that_finds_every_slot_busy_gets_503_with_retry_after(web_model_dir, slice_png, monkeypatch):
    from tumorscope.web import create_app, service

    monkeypatch.setattr(service, "SLOT_WAIT_S", 0.2)
    app = create_app(web_model_dir, max_concurrent=1)
    with app.extensions["tumorscope"].slot():
        response = app.test_client().post("/api/predict", data=_upload(slice_png))
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert "busy" in response.get_json()["error"] and response.get_json()["disclaimer"] == DISCLAIMER
    assert app.test_client().post("/api/predict", data=_upload(slice_png)).status_code == 200  # slot released


def test_an_all_black_upload_is_analysed_without_crashing(client):
    ok, buffer = cv2.imencode(".png", np.zeros((256, 256), np.uint8))
    api = client.post("/api/predict", data=_upload(buffer.tobytes(), "black.png"))
    assert api.status_code == 200 and api.get_json()["error"] is None
    page = client.post("/predict", data=_upload(buffer.tobytes(), "black.png"))
    assert page.status_code == 200


def _start_serve(web_model_dir: Path, ignore_sigint: bool = False) -> tuple[subprocess.Popen, str]:
    def preexec() -> None:  # what `cmd &` in a non-interactive shell does to its children
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = subprocess.Popen(
        [sys.executable, "-m", "tumorscope.cli", "serve", "--port", "0", "--model-dir", str(web_model_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=preexec if ignore_sigint else None,
    )
    first = process.stdout.readline()
    assert first.startswith("tumorscope web app on http://127.0.0.1:"), first
    return process, first.split(" on ", 1)[1].split()[0]


def test_serve_stops_cleanly_on_sigterm_even_with_sigint_ignored_and_sends_no_banner(web_model_dir):
    process, url = _start_serve(web_model_dir, ignore_sigint=True)
    try:
        with urllib.request.urlopen(url + "healthz", timeout=30) as response:
            assert response.status == 200
            assert response.headers.get_all("Server") == ["tumorscope"]  # no Werkzeug/x Python/y banner
            health = response.read().decode()
        assert str(web_model_dir) not in health and '"model_dir"' not in health
        process.send_signal(signal.SIGINT)  # ignored, as in a background shell
        time.sleep(0.5)
        assert process.poll() is None
        start = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert time.perf_counter() - start < 10
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _rss_mb(pid: int, key: str = "VmRSS") -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(key + ":"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads worker memory from /proc (Linux)")
def test_bounded_concurrent_load_has_no_5xx_and_flat_worker_memory(web_model_dir, slice_png, slice_jpeg, bombs):
    """200 uploads, 8 at a time, half of them bad (bombs, garbage, corrupt, empty), against `tumorscope serve`."""
    bad = [
        (bombs.deflated_dicom(16384) if importlib.util.find_spec("pydicom") else b"DICM", "bomb.dcm"),
        (bombs.rgba16_png(8192), "bomb.png"),
        (bombs.rle_bmp(20000), "bomb.bmp"),
        (b"not an image at all" * 10, "notes.jpg"),
        (slice_png[: len(slice_png) // 3], "cut.png"),
        (b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, "broken.jpg"),
    ]
    good = [(slice_png, "slice.png"), (slice_jpeg, "slice.jpg")]
    requests = [good[i % 2] if i % 2 else bad[(i // 2) % len(bad)] for i in range(200)]
    process, url = _start_serve(web_model_dir)
    try:
        def send(item: tuple[bytes, str]) -> int:
            return _post(url + "api/predict", *item, timeout=60)[0]

        with ThreadPoolExecutor(max_workers=8) as pool:  # ~15 s with the tiny models on an idle 2-core machine
            warm = list(pool.map(send, requests[:40]))
            after_warm_up = _rss_mb(process.pid)
            codes = warm + list(pool.map(send, requests[40:]))
        final, peak = _rss_mb(process.pid), _rss_mb(process.pid, "VmHWM")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert not [c for c in codes if c >= 500], codes
    assert codes.count(200) == 100 and all(400 <= c < 500 for c in codes if c != 200)
    assert final - after_warm_up < 40, (after_warm_up, final)  # flat: no growth per request
    assert peak < 1024, peak
    assert process.returncode == 0
