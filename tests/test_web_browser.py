"""`bulkorders ui` in a real browser: headless Chromium driven by Selenium, on a real uvicorn
server (a free loopback port, in a thread) on the sandbox panel.

Run with `pytest -m e2e` (the quick run leaves these out). Needs Debian's `chromium` and
`chromium-driver` (`apt-get install -y chromium chromium-driver`) and selenium (the `test`
extra); skipped, saying so, without them. Screenshots of every page go to tests/screenshots/
(kept out of git).
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

pytest.importorskip("starlette", reason="the ui extra is not installed: pip install '.[ui]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install '.[test]'")

import openpyxl  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as when  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from bulkorders.ledger import Ledger  # noqa: E402
from bulkorders.settings import load_settings  # noqa: E402
from bulkorders.web import WebConfig, bind, make_server  # noqa: E402
from bulkorders.web.jobs import Job, Result  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WAIT = 60  # seconds a page may take to reach what the test waits for


def _found(names: tuple[str, ...]) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


@pytest.fixture
def server(tmp_path):
    """A real server of the app on a free loopback port; its URL with the token."""
    config = WebConfig(settings=load_settings(panel="sandbox", ledger=tmp_path / "ledger.sqlite"))
    sock = bind("127.0.0.1", 0)
    app_server, url = make_server(config, sock)
    thread = threading.Thread(target=app_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not app_server.started:  # uvicorn offers no event to wait on
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield url, config, app_server.config.app
    app_server.should_exit = True
    thread.join(WAIT)


@pytest.fixture
def browser(tmp_path):
    binary, driver_path = _found(BROWSERS), _found(("chromedriver",))
    if binary is None or driver_path is None:
        pytest.skip("no headless Chromium here: apt-get install -y chromium chromium-driver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = Options()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False,
    })  # fmt: skip
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


def shoot(driver, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def wait_for(driver, css: str):
    return WebDriverWait(driver, WAIT).until(when.presence_of_element_located((By.CSS_SELECTOR, css)))


def upload(driver, base: str, sheet: Path) -> None:
    driver.get(base + "new")
    driver.find_element(By.ID, "sheet").send_keys(str(sheet))
    driver.find_element(By.ID, "upload").click()
    wait_for(driver, "#sheet-grid")


def downloaded(folder: Path, name: str) -> Path:
    path = folder / name
    deadline = time.monotonic() + WAIT
    while not path.exists() or any(folder.glob("*.crdownload")):  # Chromium writes then renames
        assert time.monotonic() < deadline, f"{name} was not downloaded"
        time.sleep(0.1)
    return path


def test_a_week_in_the_browser(server, browser):
    url, config, _ = server
    base = url.split("?")[0]
    browser.get(url)  # the token link: a session, then the page without the token
    wait_for(browser, "main h1")
    assert browser.current_url == base
    shoot(browser, "01-campaigns-empty")

    upload(browser, base, SAMPLES / "weekly-campaign-mistakes.xlsx")
    bad = browser.find_element(By.CSS_SELECTOR, 'td.bad.error[title="\\"abc\\" is not a whole number"]')
    assert bad.text == "abc"
    shoot(browser, "02-check-mistakes")

    upload(browser, base, SAMPLES / "weekly-campaign.xlsx")
    assert "16 orders to place, estimated 38.147 USD." in browser.find_element(By.ID, "plan").text
    shoot(browser, "03-check-good")
    browser.find_element(By.ID, "place").click()
    assert wait_for(browser, "#state").text == "Done."
    assert browser.find_element(By.ID, "count").text == "16 of 16"
    assert browser.find_element(By.ID, "info").text.startswith("placed 16 · failed 0 · uncertain 0")
    shoot(browser, "04-placed")

    browser.find_element(By.LINK_TEXT, "Download the results sheet").click()
    results = downloaded(browser.downloads, "weekly-campaign.results.xlsx")
    sheet = openpyxl.load_workbook(results).worksheets[0]
    header = [cell.value for cell in sheet[3]]  # the sample's header is on row 3
    column = header.index("order_id") + 1
    ids = {str(sheet.cell(row, column).value) for row in range(4, sheet.max_row + 1)}
    with Ledger.open(config.settings.ledger.path) as ledger:
        placed = {row.order_id for row in ledger.rows(ledger.find_campaign("weekly-campaign"))}
    assert len(placed) == 16 and ids == placed

    browser.get(base)
    wait_for(browser, "#campaigns")
    shoot(browser, "05-campaigns")
    browser.find_element(By.LINK_TEXT, "weekly-campaign").click()
    wait_for(browser, "#rows")
    shown = {cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "td.order-id")}
    assert shown == placed
    shoot(browser, "06-campaign")
    browser.find_element(By.ID, "check-all").click()
    browser.find_element(By.ID, "action-status").click()
    wait_for(browser, "#confirm")
    shoot(browser, "07-confirm-status")
    browser.find_element(By.ID, "confirm").click()
    assert wait_for(browser, "#state").text == "Done."
    assert "16 checked, 16 ok" in browser.find_element(By.ID, "summary").text
    shoot(browser, "08-status-done")
    browser.find_element(By.LINK_TEXT, "Back to the campaign").click()
    wait_for(browser, "#rows")
    statuses = [row.find_elements(By.TAG_NAME, "td")[6].text for row in browser.find_elements(By.CSS_SELECTOR, "#rows tbody tr")]
    assert len(statuses) == 16 and all(statuses)
    shoot(browser, "09-campaign-statuses")

    for page, name in (("services?search=instagram", "10-services"), ("balance", "11-balance"),
                       ("report", "12-report")):  # fmt: skip
        browser.get(base + page)
        wait_for(browser, "main h1")
        shoot(browser, name)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Audit report"


def test_the_job_page_follows_progress_pushed_by_server_sent_events(server, browser):
    """A job held open by the test: each step it takes shows on the open page, then the page
    turns into the result, with no reload by the user."""
    url, _, app = server
    release = threading.Event()

    def work(job: Job) -> Result:
        assert release.wait(WAIT)
        return Result(ok=True, summary="Placed 10 orders.")

    job = app.state.jobs.start(Job("submit", "Placing campaign held", "/"), work)
    browser.get(url)
    browser.get(url.split("?")[0] + f"jobs/{job.id}")
    assert wait_for(browser, "#job").get_attribute("data-finished") == "no"
    job.progress(0, 10, "", "Placing orders")
    job.progress(3, 10, "placed 3 · failed 0 · uncertain 0 · 2.0/s · spent 0.30 USD")
    job.note("Campaign held: 10 orders to place, estimated 1.00 USD.")
    WebDriverWait(browser, WAIT).until(when.text_to_be_present_in_element((By.ID, "count"), "3 of 10"))
    WebDriverWait(browser, WAIT).until(when.text_to_be_present_in_element((By.ID, "notes"), "Campaign held"))
    assert browser.find_element(By.ID, "info").text.startswith("placed 3 · failed 0")
    assert browser.find_element(By.ID, "bar").get_attribute("value") == "3"
    shoot(browser, "04b-progress")
    release.set()
    assert wait_for(browser, "#state").text == "Done."
    assert browser.find_element(By.ID, "summary").text == "Placed 10 orders."
