"""The page of runs in a real headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium): it lists the recorded runs; a job started through the API makes a
new run appear, and its curve grows while it trains."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.interfaces._apps import build
from tests.interfaces._records import fill
from tests.interfaces.conftest import serving
from torchsystem.interfaces.http import create_app

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None or DRIVER is None, reason=(
        "Chromium is not installed: apt-get install chromium chromium-driver (.ci/run does)")),
    pytest.mark.timeout(120),
]


@pytest.fixture
def browser() -> Iterator[Any]:
    profile = tempfile.mkdtemp(prefix="torchsystem-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(DRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# The page redraws its tables every second: read them in one script, never hold elements.
def rows(driver: Any) -> dict[int, str]:
    """Run id -> status, as the page shows them."""
    found = driver.execute_script(
        "return [...document.querySelectorAll('#runs tbody tr')]"
        ".map(row => [row.dataset.run, row.dataset.status]);")
    return {int(run): status for run, status in found}


def job_status(driver: Any, key: str) -> str | None:
    found: str | None = driver.execute_script(
        "const row = document.querySelector(`#jobs tr[data-job='${arguments[0]}']`);"
        "return row ? row.dataset.status : null;", key)
    return found


def points(driver: Any) -> int:
    """How many points the training loss curve of the run shown has."""
    found = driver.execute_script(
        "const path = document.querySelector('svg[data-metric=loss] path[data-phase=train]');"
        "return path ? Number(path.dataset.points) : 0;")
    return int(found)


def click(driver: Any, run: int) -> None:
    driver.execute_script(
        "document.querySelector(`#runs tr[data-run='${arguments[0]}']`).click();", run)


def test_the_page_lists_runs_and_follows_a_new_one(browser: Any, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORCHSYSTEM_TOKEN", raising=False)
    database = str(tmp_path / "runs.db")
    recorded = fill(database, runs=3, epochs=4)
    wait = WebDriverWait(browser, 30, poll_frequency=0.1)
    with serving(create_app(build(), database=database)) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        browser.get(url)
        wait.until(lambda driver: set(rows(driver)) == set(recorded))
        assert set(rows(browser).values()) == {"finished"}
        assert browser.find_element(By.ID, "title").text == "toy: runs"

        key = client.post("/commands/fit", json={"epochs": 100_000, "steps": 200}).json()["id"]
        new = wait.until(lambda driver: [run for run in rows(driver) if run not in recorded])
        assert rows(browser)[new[0]] == "running"
        click(browser, new[0])
        first = wait.until(lambda driver: points(driver))
        wait.until(lambda driver: points(driver) > first)
        client.delete(f"/jobs/{key}")
        wait.until(lambda driver: rows(driver).get(new[0]) == "interrupted")
        wait.until(lambda driver: job_status(driver, key) == "stopped")


def test_the_api_docs_render_from_the_server_alone(browser: Any, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORCHSYSTEM_TOKEN", raising=False)
    wait = WebDriverWait(browser, 30, poll_frequency=0.1)
    with serving(create_app(build(), database=str(tmp_path / "runs.db"))) as url:
        browser.get(f"{url}/docs")
        paths = wait.until(lambda driver: driver.execute_script(
            "return [...document.querySelectorAll('.opblock-summary-path')]"
            ".map(element => element.dataset.path);"))
        loaded = browser.execute_script(
            "return performance.getEntriesByType('resource').map(entry => entry.name);")

    assert {"/commands/fit", "/jobs/{key}", "/runs"} <= set(paths)
    assert loaded
    assert [name for name in loaded if not name.startswith(url)] == []
