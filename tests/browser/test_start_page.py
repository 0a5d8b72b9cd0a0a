"""The start page in a real browser: it runs cleanly and its self-test widget renders and responds."""

import pytest

pytestmark = pytest.mark.browser

NOTEBOOK = "notebooks/00_start_here.ipynb"


def test_start_page_runs_and_selftest_slider_responds(lab):
    from playwright.sync_api import expect

    lab.open(NOTEBOOK)
    lab.run_all()
    assert lab.error_outputs() == [], "a cell of the start page shows an error"

    slider = lab.page.locator(".gradlab-selftest-slider")
    output = lab.page.locator(".gradlab-selftest-output")
    expect(slider).to_be_visible()
    expect(slider.locator(".widget-readout")).to_have_text("3")
    expect(output).to_have_text("x = 3  ->  f(x) = x² = 9, slope f'(x) = 2x = 6")

    slider.locator(".noUi-handle").focus()
    lab.page.keyboard.press("ArrowRight")
    expect(slider.locator(".widget-readout")).to_have_text("4")
    expect(output).to_have_text("x = 4  ->  f(x) = x² = 16, slope f'(x) = 2x = 8", timeout=10_000)

    lab.page.keyboard.press("ArrowLeft")
    lab.page.keyboard.press("ArrowLeft")
    expect(output).to_have_text("x = 2  ->  f(x) = x² = 4, slope f'(x) = 2x = 4", timeout=10_000)

    assert lab.error_outputs() == [], "moving the self-test slider produced an error"
    lab.screenshot(
        "start_page_selftest", slider.locator("xpath=ancestor::div[contains(@class,'jp-Cell')][1]")
    )
