"""The reasoning console (/ponder/console) in a real headless browser: Debian's chromium
driven by Selenium against the running platform. Load the page, type the token, send a
problem, wait for the final answer, check the DAG (branches, the chosen one) and the
panel, report the outcome, and keep a screenshot."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployments.runner import LocalPlatform

pytestmark = pytest.mark.integration

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PROBLEM = "Rachel bought 7 books for 4 dollars each. How much did she spend on books?"


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    assert not missing, f"{missing}: scripts/test.sh installs Debian's chromium and driver"
    profile = tempfile.mkdtemp(prefix="ponder-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_console_draws_the_reasoning_live(
    platform: LocalPlatform, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{platform.http_url}/console")
    browser.find_element(By.ID, "token").send_keys(platform.api_token)
    problem = browser.find_element(By.ID, "problem")
    problem.clear()
    problem.send_keys(PROBLEM)
    branches = browser.find_element(By.ID, "branches")
    branches.clear()
    branches.send_keys("4")
    browser.find_element(By.CSS_SELECTOR, "#strategies input[value=pot]").click()
    browser.find_element(By.ID, "send").click()

    def finished(driver: Any) -> bool:
        status = driver.find_element(By.ID, "status")
        failed = "error" in (status.get_attribute("class") or "")
        dag = driver.find_element(By.ID, "dag")
        return failed or dag.get_attribute("data-final") == "true"

    WebDriverWait(browser, 300, poll_frequency=0.5).until(finished)
    status = browser.find_element(By.ID, "status")
    assert "error" not in (status.get_attribute("class") or ""), status.text
    columns = browser.find_elements(By.CSS_SELECTOR, "#dag g.branch")
    planned = [c for c in columns if (c.get_attribute("data-branch") or "").endswith("-pot")]
    assert len(planned) == 4  # the four pot branches asked for (a search path may join)
    chosen = browser.find_elements(By.CSS_SELECTOR, "#dag g.branch.chosen")
    assert len(chosen) == 1
    answer = browser.find_element(By.ID, "answer-text").text
    assert answer and answer != "(no answer)"
    assert f"= {answer}" in chosen[0].text  # the highlighted path carries the answer
    statuses = {c.get_attribute("data-status") for c in columns}
    assert statuses <= {"completed", "pruned", "failed"}, statuses  # nothing left running
    events = browser.find_elements(By.CSS_SELECTOR, "#events li")
    assert any("started" in e.text for e in events) and any("done" in e.text for e in events)

    browser.find_element(By.ID, "report-right").click()
    WebDriverWait(browser, 60).until(
        lambda d: d.find_element(By.ID, "report-status").text.strip() != ""
    )
    assert "logged" in browser.find_element(By.ID, "report-status").text
    browser.find_element(By.ID, "refresh").click()

    def panel(driver: Any) -> tuple[list[str], str] | None:
        """The side panel read in one go (a refresh rebuilds it), once both parts are in."""
        models, scorer = driver.execute_script(
            "return [[...document.querySelectorAll('#models li')].map(e => e.textContent),"
            " document.getElementById('scorer').textContent];"
        )
        return (models, scorer) if models and "reported" in scorer else None

    models, scorer = WebDriverWait(browser, 60).until(panel)
    assert all(m.strip() for m in models), models
    assert "active" in scorer

    shot = tmp_path / "console.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    print(f"console screenshot: {shot}")
