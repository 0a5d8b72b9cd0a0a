"""Every later chapter in a real browser: it runs cleanly and its main widget redraws on a key press.

One row per chapter in CHAPTER_WIDGETS (Chapter 1 has its own, deeper module: test_chapter01.py).
Add a row when a chapter lands.
"""

import re
from dataclasses import dataclass

import pytest

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class ChapterWidget:
    notebook: str
    widget_class: str  # the CSS class gradlab.ui.wiring.wire puts on the widget's box
    slider: str  # description of the slider to move


CHAPTER_WIDGETS = [
    ChapterWidget("notebooks/02_activations.ipynb", "gradlab-gradient-after-depth", "depth"),
    ChapterWidget("notebooks/03_exploding.ipynb", "gradlab-growth", "depth"),
    ChapterWidget("notebooks/04_init_norm.ipynb", "gradlab-signal", "depth"),
    ChapterWidget("notebooks/05_residual.ipynb", "gradlab-residual", "blocks"),
    ChapterWidget("notebooks/06_clipping.ipynb", "gradlab-clipping", "threshold c"),
    ChapterWidget("notebooks/07_monitoring.ipynb", "gradlab-dashboard", "steps"),
]


@pytest.mark.parametrize(
    "chapter",
    CHAPTER_WIDGETS,
    ids=[f"{c.notebook.split('/')[-1].removesuffix('.ipynb')}-{c.slider}" for c in CHAPTER_WIDGETS],
)
def test_chapter_runs_and_main_widget_redraws(lab, chapter):
    from playwright.sync_api import expect

    lab.open(chapter.notebook)
    lab.run_all()
    assert lab.error_outputs() == [], f"a cell of {chapter.notebook} shows an error"

    widget = lab.page.locator(f".{chapter.widget_class}")
    expect(widget).to_be_visible()
    slider = widget.locator(".widget-slider").filter(
        has=lab.page.locator(".widget-label", has_text=re.compile(f"^{re.escape(chapter.slider)}$"))
    )
    readout = widget.locator(".gradlab-readout")
    plot = widget.locator(".widget-output img")
    expect(plot).to_be_visible()
    start = slider.locator(".widget-readout").inner_text()
    # an integer slider at 1 can only go right; any other slider (integer, float or a selection
    # slider whose readout is a label such as "0.1") steps left
    key = "ArrowRight" if start.strip() in ("0", "1") else "ArrowLeft"
    before = (readout.inner_text(), plot.get_attribute("src"))

    watch = lab.watch(widget, ".gradlab-readout")
    slider.locator(".noUi-handle").focus()
    lab.page.keyboard.press(key)
    watch.wait_for_plots(1)  # a new image (a cleared plot, e.g. "training…", does not count)
    watch.wait_until_quiet(500)

    after = (readout.inner_text(), plot.get_attribute("src"))
    assert slider.locator(".widget-readout").inner_text() != start
    assert after[1] != before[1], f"the plot did not change after moving '{chapter.slider}'"
    assert after[0] != before[0], f"the readout did not change after moving '{chapter.slider}'"
    assert lab.error_outputs() == [], f"moving '{chapter.slider}' produced an error"
    name = chapter.notebook.split("/")[-1].removesuffix(".ipynb")
    lab.screenshot(f"{name}_{chapter.widget_class}", widget)
