"""Widget controls as a learner meets them in JupyterLab at 1280×900 with the file browser open.

Issue 11: with Lab's file browser open, four controls in one row left Chapter 1's weight-scale
track 31 px wide, and slow widgets kept the old picture with no sign of work. Here every slider
track of Chapters 1 and 3 is measured with the file browser panel open (opened by the test if it
is not), and a slow widget is watched through an update: its busy line reads "computing…" and its
controls are disabled while the kernel works, and both clear afterwards.

The track is `.noUi-base`: the bar the handle travels along (the drag test of test_chapter01.py
drags along it too), without the label and the value readout.
"""

import re

import pytest

pytestmark = pytest.mark.browser

MIN_TRACK_PX = 200
CHAPTER_SLIDERS = {
    "notebooks/01_chain_rule.ipynb": {"gradlab-gradient-flow": ["depth", "weight scale"]},
    "notebooks/03_exploding.ipynb": {
        "gradlab-growth": ["weight scale", "depth"],
        "gradlab-time": ["scale s of W_h", "T (steps)"],
    },
}
FILE_BROWSER_TAB = ".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='filebrowser']"

# Every slider in `root`: its label and the width of its track, in CSS px.
TRACKS_JS = """root => [...root.querySelectorAll('.widget-slider')].map(slider => ({
    label: slider.querySelector('.widget-label').innerText.trim(),
    track: slider.querySelector('.noUi-base').getBoundingClientRect().width,
}))"""

# Records, on the browser's clock, every state the widget passes through: the busy line's text and
# which controls are disabled, after every DOM change (a MutationObserver misses no state that
# reached the page, however short). Controls: sliders, dropdowns, checkboxes.
BUSY_WATCH_JS = """root => {
    const controls = () => [...root.querySelectorAll(
        '.gradlab-controls .widget-slider, .gradlab-controls .widget-dropdown, '
        + '.gradlab-controls .widget-checkbox')];
    const snapshot = () => {
        const busy = root.querySelector('.gradlab-busy');
        return {
            t: performance.now(),
            busy: busy ? busy.innerText.trim() : null,
            disabled: controls().map(c => c.querySelector('[disabled]') !== null),
            plot: (root.querySelector('.widget-output img') || {}).src || null,
        };
    };
    const states = [snapshot()];
    new MutationObserver(() => {
        const now = snapshot();
        const last = states[states.length - 1];
        if (now.busy !== last.busy || now.plot !== last.plot
            || now.disabled.join() !== last.disabled.join()) {
            states.push(now);
        }
    }).observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
    window.__gradlabBusy = states;
}"""


def open_file_browser(lab):
    """Open Lab's left file-browser panel if it is closed (a learner's default view); return it."""
    from playwright.sync_api import expect

    panel = lab.page.locator("#filebrowser")
    tab = lab.page.locator(FILE_BROWSER_TAB)
    expect(tab).to_have_count(1)  # the tab a learner clicks; checked even when already open
    if not panel.is_visible():
        tab.click()
    expect(panel).to_be_visible()
    return panel


@pytest.mark.parametrize(
    "notebook", list(CHAPTER_SLIDERS), ids=[n.split("/")[1][:2] for n in CHAPTER_SLIDERS]
)
def test_every_slider_track_is_wide_enough_with_the_file_browser_open(
    lab, notebook, report_benchmark
):
    from playwright.sync_api import expect

    lab.open(notebook)
    lab.run_all()
    panel = open_file_browser(lab)
    assert lab.page.viewport_size == {"width": 1280, "height": 900}
    for widget_class, labels in CHAPTER_SLIDERS[notebook].items():
        widget = lab.page.locator(f".{widget_class}")
        widget.scroll_into_view_if_needed()
        expect(widget.locator(".widget-output img")).to_be_visible()
        expect(panel).to_be_visible()  # still open while measuring
        panel_px = panel.bounding_box()["width"]
        tracks = widget.evaluate(TRACKS_JS)
        assert [t["label"] for t in tracks] == labels, f"{widget_class}: sliders {tracks}"
        narrow = [t for t in tracks if t["track"] < MIN_TRACK_PX]
        widths = ", ".join(f"{t['label']} {t['track']:.0f} px" for t in tracks)
        report_benchmark(
            f"{notebook} .{widget_class} tracks with the {panel_px:.0f} px file browser open: "
            f"{widths}"
        )
        assert not narrow, f"{widget_class}: tracks under {MIN_TRACK_PX} px: {narrow}"
        name = f"{notebook.split('/')[1][:2]}_{widget_class}_file_browser_open"
        lab.screenshot(name, widget)
    lab.screenshot(f"{notebook.split('/')[1][:2]}_page_file_browser_open")


def test_slow_widget_shows_busy_state_and_clears_it(lab, report_benchmark):
    """Chapter 3's gradients-through-time widget moved to T = 100: busy during, clear after."""
    from playwright.sync_api import expect

    lab.open("notebooks/03_exploding.ipynb")
    lab.run_all()
    widget = lab.page.locator(".gradlab-time")
    widget.scroll_into_view_if_needed()
    busy = widget.locator(".gradlab-busy")
    expect(busy).to_have_count(1)
    expect(busy).to_have_text("")
    steps = lab.widget_slider("T (steps)")
    expect(steps).to_have_count(1)
    widget.evaluate(BUSY_WATCH_JS)

    steps.locator(".noUi-handle").focus()
    lab.page.keyboard.press("End")
    expect(widget.locator(".gradlab-readout")).to_contain_text("T = 100", timeout=30_000)
    expect(busy).to_have_text("")
    states = lab.page.evaluate("() => window.__gradlabBusy")

    controls = len(states[0]["disabled"])
    assert controls == 2, f"expected the widget's two sliders, found {controls}"
    assert states[0]["busy"] == "" and not any(states[0]["disabled"]), states[0]
    during = [s for s in states if s["busy"] == "computing…" and all(s["disabled"])]
    assert during, f"no state with 'computing…' and every control disabled: {states}"
    final = states[-1]
    assert final["busy"] == "" and not any(final["disabled"]), f"busy state not cleared: {final}"
    assert final["plot"] != states[0]["plot"], "the plot was not redrawn"
    # the busy state ends no earlier than the new plot arrives
    first_busy = during[0]["t"]
    new_plot = next(s["t"] for s in states if s["plot"] != states[0]["plot"])
    cleared = next(s["t"] for s in states if s["t"] > first_busy and s["busy"] == "")
    assert first_busy < new_plot <= cleared, states
    report_benchmark(
        f"Chapter 3 time widget, T 6 -> 100: busy for {cleared - first_busy:.0f} ms "
        f"({len(states)} states recorded)"
    )
    # and the controls answer again, without a new click: one more key press moves T
    lab.page.keyboard.press("ArrowLeft")
    expect(widget.locator(".gradlab-readout")).to_contain_text(
        re.compile(r"T = 99\b"), timeout=30_000
    )
    assert lab.error_outputs() == []
