"""Screenshot of the web app's result page for the README, taken in headless Chromium.

Starts the app on the shipped models, uploads a SYNTHETIC MRI-like slice (scripts/make_synthetic_mri.py:
an ellipse head with a bright lesion, no patient data) through the page's file input, and saves the result page
(and, with --home, the upload page).

    python scripts/screenshot_web.py [--model-dir models] [--backend onnx] [--out docs/screenshot-result.png]
        [--home docs/screenshot-home.png]

Needs Debian's `chromium` and `chromium-driver` and `pip install selenium`; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from pathlib import Path

import cv2
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_synthetic_mri import synthetic_slice  # noqa: E402

from tumorscope.web import create_app  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--force-device-scale-factor=1")


def _save_page(driver: webdriver.Chrome, out: Path, width: int) -> None:
    """Full-page PNG: make the viewport as tall as the document, capture, restore."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    out.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(out))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def screenshot(model_dir: str | None, backend: str, out: Path, home: Path | None = None, width: int = 1200) -> Path:
    """Upload the synthetic slice and save a full-page PNG of the result page to ``out`` (upload page to ``home``)."""
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager download anything
    server = make_server("127.0.0.1", 0, create_app(model_dir, backend=backend), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="tumorscope-shot-") as work:
        image = Path(work) / "synthetic_slice.png"
        cv2.imwrite(str(image), synthetic_slice(size=256))
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={Path(work) / 'profile'}", f"--window-size={width},900"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        try:
            driver.get(f"http://127.0.0.1:{server.server_port}/")
            if home is not None:
                _save_page(driver, home, width)
            driver.find_element(By.ID, "image").send_keys(str(image))
            driver.find_element(By.ID, "analyze").click()
            WebDriverWait(driver, 120).until(ec.presence_of_element_located((By.ID, "predicted-class")))
            _save_page(driver, out, width)
            label = driver.find_element(By.ID, "predicted-class").text
            area = driver.find_element(By.ID, "tumor-area").text
        finally:
            driver.quit()
            server.shutdown()
    print(f"wrote {out} (predicted {label}, tumor area {area} %)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None, help="models folder (default: $TUMORSCOPE_MODELS or models/)")
    parser.add_argument("--backend", choices=("onnx", "tflite"), default="onnx")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshot-result.png"))
    parser.add_argument("--home", type=Path, default=None, help="also save the upload page here")
    args = parser.parse_args()
    screenshot(args.model_dir, args.backend, args.out, args.home)


if __name__ == "__main__":
    main()
