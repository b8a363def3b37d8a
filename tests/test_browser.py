"""The demo in a real browser: Debian's Chromium driven by Playwright."""

import shutil

import pytest
from playwright.sync_api import expect, sync_playwright

from ssvae.reference import Reference
from ssvae.sources import BUNDLED_MODEL_DIR
from tests.demo_process import run_demo

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def app_url():
    with run_demo() as server:
        yield server.url


@pytest.fixture(scope="module")
def page(app_url):
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is missing: apt-get install chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(app_url)
        yield page
        browser.close()


def test_page_names_served_weights(page):
    expect(page.get_by_text("Serving bundled default weights")).to_be_visible()


def test_upload_and_classify_face(page, test_faces):
    page.get_by_role("tab", name="Classify").click()
    page.locator("input[type=file]").first.set_input_files(str(test_faces[0]))
    page.get_by_role("button", name="Classify", exact=True).click()
    expect(page.get_by_text("How typical is this image")).to_be_visible(timeout=60000)
    expect(page.get_by_test_id("label-output-value")).to_have_text(
        "face", timeout=60000
    )


def test_bias_report_shows_attribute_table(page):
    table = Reference.load(BUNDLED_MODEL_DIR).attribute_table
    top = table.sort_values("auroc_low_density", ascending=False)["attribute"].iloc[0]
    page.get_by_role("tab", name="Bias").click()
    page.get_by_role("button", name="Show bias report").click()
    first_cell = page.get_by_role("gridcell").first
    expect(first_cell).to_have_text(top, timeout=60000)
    expect(page.get_by_role("img").first).to_be_visible()
