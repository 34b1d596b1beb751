"""End to end in a real headless Chromium (Debian `chromium` + `chromium-driver`, driven by Selenium):
upload an image through the file input, submit, and read the class and tumor area from the result page.

Skipped with a reason when the browser is absent, except under TUMORSCOPE_REQUIRE_BROWSER=1 (CI), where it fails.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from conftest import SYNTHETIC_SLICE

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REQUIRE_ENV = "TUMORSCOPE_REQUIRE_BROWSER"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
)


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}, but {REQUIRE_ENV}=1 requires the browser test to run")
    pytest.skip(f"{reason}: install it with `apt-get install -y chromium chromium-driver` and `pip install selenium`")


@pytest.fixture()
def browser_factory(tmp_path, monkeypatch):
    """``make(javascript=True)`` -> a headless Chromium WebDriver with a fresh profile; all quit afterwards."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.is_file():
            _unavailable(f"{path} is not installed")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed")
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download a browser or driver
    drivers = []

    def make(javascript: bool = True):
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={tmp_path / f'profile-{len(drivers)}'}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        if not javascript:
            options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
        driver.set_page_load_timeout(60)
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        driver.quit()


@pytest.mark.slow
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_upload_in_chromium_shows_class_and_tumor_area(javascript, browser_factory, app, client, live_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    expected = client.post(
        "/api/predict", data={"image": (io.BytesIO(SYNTHETIC_SLICE.read_bytes()), SYNTHETIC_SLICE.name)}
    ).get_json()
    base = live_server(app)
    driver = browser_factory(javascript)
    driver.get(base + "/")
    assert "Analyze" in driver.title
    assert bool(driver.execute_script("return document.documentElement.classList.contains('js')")) is javascript

    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    for _ in range(5):  # the file input is reachable from the keyboard
        if driver.switch_to.active_element.get_attribute("id") == "image":
            break
        driver.switch_to.active_element.send_keys(Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("id") == "image"

    driver.find_element(By.ID, "image").send_keys(str(SYNTHETIC_SLICE))
    driver.find_element(By.ID, "analyze").click()
    WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.ID, "predicted-class")))

    assert driver.find_element(By.ID, "predicted-class").text == expected["label"]
    assert float(driver.find_element(By.ID, "tumor-area").text) == pytest.approx(expected["tumor_area_pct"], abs=0.006)
    assert "not for clinical diagnosis" in driver.find_element(By.ID, "disclaimer").text
    for image_id in ("original-image", "overlay-image"):
        assert driver.execute_script(f"return document.getElementById('{image_id}').naturalWidth") == 256
    if javascript:
        csp_errors = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
        assert csp_errors == []
