"""What a person sees: the HTML report and the dashboard in a real headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``.ci/run``), driven by Playwright's
Python client. Screenshots are kept under ``test-artifacts/`` (not committed): the report's first
screen and whole page, and the dashboard.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from sweeper.cli import main
from tests.support import running_dashboard

CHROMIUM = Path(os.environ.get("SWEEPER_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium.")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as driver:
        instance = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield instance
        instance.close()


def new_page(browser):
    """A page whose waits for an element allow any machine's pace (Playwright's default of
    30 s is a timing window a loaded machine can miss); they only turn a hang into a failure."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(300_000)
    return page


def test_report_page_draws_the_front(browser, finished_study, tmp_path):
    page_path, facts_path = tmp_path / "report.html", tmp_path / "report.json"
    assert (
        main(["report", str(finished_study), "--html", str(page_path), "--json", str(facts_path)])
        == 0
    )
    facts = json.loads(facts_path.read_text())
    page = new_page(browser)
    page.goto(page_path.as_uri())
    page.wait_for_selector("#pareto-plot .scatterlayer .trace path.point")
    drawn = page.evaluate("""() => {
        const plot = document.getElementById('pareto-plot');
        const traces = plot.querySelectorAll('.scatterlayer .trace');
        return plot.data.map(
            (trace, i) => [trace.name, traces[i].querySelectorAll('path.point').length]);
    }""")
    counts = dict(drawn)
    assert counts["front (validation)"] == len(facts["front"])
    assert counts["front (test)"] == len(facts["front"])
    assert counts["all trials (validation)"] == facts["trial_states"]["COMPLETE"]
    for section in ("pr-curve", "per-label", "weights"):
        assert page.locator(f"#{section}-plot .main-svg").count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-first-screen.png"))  # the viewport alone
    # The page leads with its answer: all of it, the verdict included, on the first screen.
    answer = page.locator("#answer").bounding_box()
    assert answer is not None and answer["y"] >= 0 and answer["y"] + answer["height"] <= 1000
    verdict = page.locator("#verdict")
    assert verdict.is_visible()
    assert verdict.inner_text() == facts["verdict"]["message"].replace("`", "")
    shown = verdict.bounding_box()
    assert shown is not None and shown["y"] + shown["height"] <= 1000
    # The per-label figure is folded; opened, it is drawn at its container's width (plotly
    # draws a figure at the size its container has, and a closed <details> has none).
    per_label = page.locator("#per-label details")
    assert per_label.get_attribute("open") is None
    page.locator("#per-label summary").click()
    widths = page.evaluate("""() => [
        document.getElementById('per-label-plot').getBoundingClientRect().width,
        document.querySelector('#per-label-plot .main-svg').getBoundingClientRect().width]""")
    assert widths[0] > 700 and abs(widths[1] - widths[0]) < 2
    # The facts are folded too, and read once opened.
    assert not page.locator("#facts").is_visible()
    page.locator("#study-facts summary").click()
    assert page.locator("#facts").inner_text().count("fingerprint") == 1
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    page.close()


def test_dashboard_lists_the_study_and_its_objectives(browser, finished_study):
    with running_dashboard(finished_study) as port:
        page = new_page(browser)
        page.goto(f"http://127.0.0.1:{port}/dashboard/")
        listed = page.get_by_text(re.compile(r"\bsmall\b")).first
        listed.wait_for()
        listed.click()
        page.get_by_text("recall").first.wait_for()
        text = page.locator("body").inner_text()
        assert "recall" in text and "precision" in text
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        page.close()
