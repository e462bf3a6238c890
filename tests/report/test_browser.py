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


def _red_line_page(run: Run) -> Path:
    import pandas as pd

    agents = pd.read_parquet(run.out / "audit" / "agents.parquet")
    red = agents.loc[agents["critical_conversations"] > 0, "agent"]
    assert len(red), "the sample has an agent with red lines"
    return run.out / "agents" / f"{agent_slug(red.iloc[0])}.html"


def test_first_screen_shows_rank_red_line_kpis_and_coaching(browser, sample_report: Run) -> None:
    page = _red_line_page(sample_report)
    open_page(browser, page)
    js = ("const e = document.querySelector(arguments[0]); if (!e) return null;"
          "const r = e.getBoundingClientRect(); return [r.top, r.bottom, window.innerHeight, e.textContent];")
    for sel in ('[data-kpi="rank"]', '[data-red-line="1"]', '[data-kpi="qa_score"]', "#kpis .csa-kpi", "#coaching li"):
        top, bottom, height, text = browser.execute_script(js, sel)
        assert 0 <= top and bottom <= height, (sel, top, bottom, height)  # on the first screen, no scrolling
    assert "红线" in browser.execute_script(js, '[data-red-line="1"]')[3]


def test_critical_finding_links_to_its_transcript_with_the_term_marked(browser, sample_report: Run) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, _red_line_page(sample_report))
    group = browser.find_element(By.CSS_SELECTOR, "details.csa-group.sev-critical")
    group.find_element(By.TAG_NAME, "summary").click()
    link = group.find_element(By.CSS_SELECTOR, 'a[href^="#c-"]')
    target = link.get_attribute("href").split("#", 1)[1]
    link.click()
    time.sleep(0.3)
    assert browser.execute_script("return location.hash") == f"#{target}"
    state = browser.execute_script(
        "const t = document.getElementById(arguments[0]); const r = t.getBoundingClientRect();"
        "return [t.open, r.top < window.innerHeight && r.bottom > 0, t.querySelectorAll('mark').length,"
        " t.querySelector('.csa-turn .t-who') ? t.querySelector('.csa-turn .t-who').textContent : ''];", target)
    is_open, visible, n_marks, who = state
    assert is_open and visible and n_marks >= 1, state
    assert "T" not in who and "+08" not in who  # shop-local time, not ISO


def test_contents_bar_and_table_filter_work(browser, sample_report: Run) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, _red_line_page(sample_report))
    browser.find_element(By.CSS_SELECTOR, '#toc a[href="#latency"]').click()
    time.sleep(0.3)
    toc_top, sec_top = browser.execute_script(
        "return [document.getElementById('toc').getBoundingClientRect().top,"
        " document.getElementById('latency').getBoundingClientRect().top];")
    assert toc_top == 0 and 0 <= sec_top < 200, (toc_top, sec_top)  # the bar sticks, the section is in view
    table = browser.find_element(By.CSS_SELECTOR, "#slow-table")
    box = browser.find_element(By.CSS_SELECTOR, "#slow + input.csa-filter, input.csa-filter + #slow-table")
    count = "return Array.from(arguments[0].tBodies[0].rows).filter(r => !r.hidden).length"
    n_all = browser.execute_script(count, table)
    first_customer = browser.execute_script("return arguments[0].tBodies[0].rows[0].cells[1].textContent", table)
    inp = browser.execute_script("return arguments[0].previousElementSibling", table)
    inp.send_keys(first_customer)
    time.sleep(0.2)
    n_shown = browser.execute_script(count, table)
    assert 1 <= n_shown < n_all, (n_shown, n_all)
    assert box is not None
    # sorting: a click on a header orders the rows
    browser.execute_script("arguments[0].value=''; arguments[0].dispatchEvent(new Event('input'))", inp)
    th = table.find_elements(By.CSS_SELECTOR, "thead th")[2]  # response time
    th.click()
    vals = browser.execute_script("return Array.from(arguments[0].tBodies[0].rows).map(r => parseFloat(r.cells[2].textContent))",
                                  table)
    nums = [v for v in vals if v is not None]  # "—" (unanswered) after the numbers
    assert len(nums) >= 2 and vals[: len(nums)] == sorted(nums), vals


def test_no_page_loads_anything_from_the_network(browser, sample_report: Run) -> None:
    out = sample_report.out
    for page in (out / "index.html", *(out / "agents").glob("*.html")):
        open_page(browser, page)
        # everything the page refers to resolves to a file next to it (the browser is offline too: a request
        # that tried to leave the machine would fail and show as a console error in open_page)
        urls = browser.execute_script(
            "return Array.from(document.querySelectorAll('script[src], link[href], img[src], iframe, source, object'))"
            ".map(e => e.src || e.href || e.data || '')")
        assert urls and all(u.startswith("file://") for u in urls), (page.name, urls)
        assert any(u.endswith("/assets/plotly.min.js") for u in urls)
        hrefs = browser.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        assert all(h.startswith("file://") for h in hrefs), [h for h in hrefs if not h.startswith("file://")]
