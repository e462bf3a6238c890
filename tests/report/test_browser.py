"""A real headless browser (Debian's chromium + chromedriver, driven by selenium) opens the reports
from disk with the network off: plotly charts render, no console errors, no injected script runs.

`make test` installs chromium and chromium-driver with apt-get when they are missing and it runs as
root; elsewhere this test is skipped with the reason.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from csaudit.report.views import agent_slug

from .conftest import Planted, Run

pytestmark = pytest.mark.slow

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000",
         # any request that still tried to leave the machine would fail (and show as a console error)
         "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>")


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_bin = shutil.which("chromedriver")
    if not chromium or not driver_bin:
        pytest.skip("chromium/chromedriver not installed (`make test` installs them with apt-get when run as "
                    "root: apt-get install -y chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    profile = tempfile.mkdtemp(prefix="csaudit-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.binary_location = chromium
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=opts, service=Service(driver_bin))
    except Exception as exc:  # noqa: BLE001 - report why the browser cannot run here
        pytest.skip(f"chromium is installed but cannot start here: {str(exc).splitlines()[0]}")
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                           {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def open_page(driver, path: Path) -> tuple[int, list[dict]]:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    driver.get_log("browser")  # drop earlier messages
    driver.get(path.resolve().as_uri())
    deadline = time.time() + 60  # generous: the machine may be busy
    n_divs = 0
    while time.time() < deadline:
        n_divs = len(driver.find_elements(By.CSS_SELECTOR, "div.plotly-graph-div"))
        n_svg = len(driver.find_elements(By.CSS_SELECTOR, "div.plotly-graph-div svg.main-svg"))
        if n_divs and n_svg >= n_divs:
            break
        time.sleep(0.2)
    with pytest.raises(NoAlertPresentException):  # an injected alert(1) would be open now
        driver.switch_to.alert.text  # noqa: B018
    n_rendered = driver.execute_script(
        "return Array.from(document.querySelectorAll('div.plotly-graph-div'))"
        ".filter(d => d.querySelector('svg.main-svg')).length")
    assert n_divs > 0 and n_rendered == n_divs, (path.name, n_divs, n_rendered)
    return n_divs, driver.get_log("browser")


def test_index_and_agent_report_render_offline(browser, sample_report: Run) -> None:
    out = sample_report.out
    for page in (out / "index.html", next((out / "agents").glob("*.html"))):
        n, logs = open_page(browser, page)
        severe = [e for e in logs if e["level"] == "SEVERE"]
        assert not severe, (page.name, severe)
        assert browser.execute_script("return typeof Plotly") == "object"


def test_planted_script_does_not_run(browser, planted_report: Planted) -> None:
    page = planted_report.run.out / "agents" / f"{agent_slug(planted_report.good)}.html"
    n, logs = open_page(browser, page)
    assert not [e for e in logs if e["level"] == "SEVERE"]
    assert "<script>alert(1)</script>" in browser.find_element("css selector", "body").text
