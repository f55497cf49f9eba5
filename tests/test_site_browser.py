"""The HTML leaderboards in a real browser: Debian's Chromium driven by Selenium.

The site is built from a copy of the committed results store (and of the committed figures,
which stand in for run folders a clone does not have), opened from ``file://`` as a user on a
file share would: every page loads without a console error, every table has one row per
configuration the store ranks, a click on a header re-orders the rows, every image loads, and
a screenshot of the analytic page shows the ranked table. Without Chromium the tests skip,
except under CI (``CI`` set), where ``.ci/run`` installs it and a skip would hide a failure.
"""

import os
import shutil
from pathlib import Path

import pytest

from perfekt_bench.cli import main

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,1000")


def _require_browser():
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing = "selenium (pip install -e '.[test]')"
    else:
        missing = None if CHROMIUM and DRIVER else "Debian's chromium and chromium-driver"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} missing under CI: .ci/run installs them")
        pytest.skip(f"{missing} not installed")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built from a copy of the committed store and figures."""
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(REPO / "leaderboards" / "results" / "store", root / "results" / "store")
    shutil.copytree(REPO / "leaderboards" / "figures", root / "site" / "figures")
    assert main(["leaderboard", "--results-dir", str(root / "results"),
                 "--out", str(root / "site"), "--html", str(root / "site"), "--force"]) == 0
    return root / "site"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _open(browser, page: Path):
    browser.get(page.as_uri())
    browser.get_log("browser")  # the log of the previous page is not this page's
    browser.refresh()


def _errors(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def _broken_images(browser) -> tuple[int, list[str]]:
    return browser.execute_script(
        "const imgs = Array.from(document.images);"
        "return [imgs.length, imgs.filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.getAttribute('src'))];")


def _ranked(table: str):
    """(labels, rows of the primary-metric column) of the configurations in the store, as the
    standings rank them, per data set."""
    from perfekt_bench.cli.leaderboard import task_infos
    from perfekt_bench.results import ResultsStore
    from perfekt_bench.standings import standings

    (info,) = task_infos([table], REPO / "leaderboards" / "results")
    rows = ResultsStore(REPO / "leaderboards" / "results").read()
    return standings(rows, task=table, primary=info.primary, directions=info.directions)


def test_every_page_loads_without_console_errors_and_images_load(browser, site):
    pages = sorted(site.glob("*.html"))
    assert {p.name for p in pages} == {"index.html", "analytic.html", "jets.html",
                                       "deepjet.html"}
    for page in pages:
        _open(browser, page)
        assert browser.title.endswith("perfekt-bench leaderboards")
        assert _errors(browser) == [], page.name
        count, broken = _broken_images(browser)
        assert broken == [], page.name
        if page.name != "index.html":
            assert count > 3, page.name  # plots and every configuration's figures


def test_index_links_every_task(browser, site):
    from selenium.webdriver.common.by import By

    _open(browser, site / "index.html")
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR,
                                                                     "#tasks a")]
    assert sorted(Path(h).name for h in links) == ["analytic.html", "deepjet.html", "jets.html"]


@pytest.mark.parametrize("task", ["analytic", "jets", "deepjet"])
def test_each_table_has_one_row_per_ranked_configuration(browser, site, task):
    from selenium.webdriver.common.by import By

    _open(browser, site / f"{task}.html")
    expected = _ranked(task)
    tables = browser.find_elements(By.CSS_SELECTOR, "table.board")
    assert len(tables) == len(expected.tables)
    for element, table in zip(tables, expected.tables, strict=True):
        rows = element.find_elements(By.CSS_SELECTOR, "tbody.ranked tr")
        assert [r.get_attribute("data-label") for r in rows] == [
            c.label for c in table.configurations]
        refs = element.find_elements(By.CSS_SELECTOR, "tbody.references tr")
        assert [r.get_attribute("data-label") for r in refs] == [
            "fullsim (noise floor)", "fastsim (unrefined)"]


def _column(browser, table, key: str) -> list[str | None]:
    from selenium.webdriver.common.by import By

    headers = table.find_elements(By.CSS_SELECTOR, "thead th")
    index = [h.get_attribute("data-key") for h in headers].index(key)
    return [r.find_elements(By.TAG_NAME, "td")[index].get_attribute("data-sort")
            for r in table.find_elements(By.CSS_SELECTOR, "tbody.ranked tr")]


def test_clicking_a_header_reorders_the_rows(browser, site):
    from selenium.webdriver.common.by import By

    _open(browser, site / "analytic.html")
    table = browser.find_element(By.CSS_SELECTOR, "table.board")
    ranked = [r.get_attribute("data-label")
              for r in table.find_elements(By.CSS_SELECTOR, "tbody.ranked tr")]

    def header(key):
        return table.find_element(By.CSS_SELECTOR, f'thead th[data-key="{key}"]')

    header("configuration").click()
    labels = _column(browser, table, "configuration")
    assert labels == sorted(ranked) and labels != ranked
    assert header("configuration").get_attribute("aria-sort") == "ascending"
    header("configuration").click()
    assert _column(browser, table, "configuration") == sorted(ranked, reverse=True)

    header("mse").click()
    mse = [float(v) for v in _column(browser, table, "mse")]
    assert mse == sorted(mse) and len(mse) == len(ranked)
    header("fit_seconds").click()
    header("fit_seconds").click()
    fit = [float(v) for v in _column(browser, table, "fit_seconds")]
    assert fit == sorted(fit, reverse=True)
    # reference rows stay where they are, below the ranked ones
    refs = table.find_elements(By.CSS_SELECTOR, "tbody.references tr")
    assert [r.get_attribute("data-label") for r in refs][0] == "fullsim (noise floor)"


def test_screenshot_of_the_analytic_page_shows_the_ranked_table(browser, site, tmp_path):
    from matplotlib.image import imread
    from selenium.webdriver.common.by import By

    _open(browser, site / "analytic.html")
    shot = tmp_path / "analytic.png"
    assert browser.save_screenshot(str(shot))
    pixels = imread(shot)
    height, width = pixels.shape[:2]
    assert width >= 1200 and height >= 800
    assert pixels[..., :3].std() > 0.05  # not a blank page
    table = browser.find_element(By.CSS_SELECTOR, "table.board")
    box = browser.execute_script("const r = arguments[0].getBoundingClientRect();"
                                 "return [r.top, r.bottom, r.width];", table)
    assert 0 < box[0] < height and box[2] > 600  # the table is on the first screen
    first = table.find_element(By.CSS_SELECTOR, "tbody.ranked tr td:nth-child(2)")
    assert first.text == _ranked("analytic").tables[0].configurations[0].label
    aside = browser.find_element(By.ID, "paper")
    assert "Table 1" in aside.text and aside.is_displayed()
    if os.environ.get("PERFEKT_BENCH_SCREENSHOTS"):
        target = Path(os.environ["PERFEKT_BENCH_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / "analytic.png")


def test_rebuilding_one_task_keeps_the_others_in_the_index(site):
    """The committed command builds every task; rebuilding one (--task) must not drop the
    others from the index, nor change any other byte."""
    results = site.parent / "results"
    before = (site / "index.html").read_bytes()
    assert main(["leaderboard", "--task", "analytic", "--results-dir", str(results),
                 "--out", str(site), "--html", str(site)]) == 0
    assert (site / "index.html").read_bytes() == before
    assert b'href="jets.html"' in before and b'href="deepjet.html"' in before
    assert main(["leaderboard", "--results-dir", str(results), "--out", str(site),
                 "--html", str(site), "--check"]) == 0
