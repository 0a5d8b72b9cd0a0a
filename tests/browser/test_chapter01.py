"""Chapter 1 in a real browser: it runs cleanly and the gradient-flow widget responds quickly.

The chapter is opened and run once for the whole module; each test leaves the depth slider where
the next one expects to find it or sets it itself. The latency numbers are a benchmark: they are
printed and written to test-artifacts/browser/latency.json, and only a generous bound is asserted.
"""

import json
import re
import statistics

import pytest

pytestmark = pytest.mark.browser

NOTEBOOK = "notebooks/01_chain_rule.ipynb"
WIDGET = ".gradlab-gradient-flow"
READOUT = ".gradlab-readout"
LATENCY_MOVES = 10
LATENCY_TARGET_MS = 300  # what the course aims for (issue 4); reported, not asserted
LATENCY_BOUND_MS = 3000  # asserted: far above the target, fails only when something is broken
BURST_KEYS = 10
MAX_BURST_REDRAWS = 3  # a burst of key presses must not queue one redraw per press


def depth_in_readout(text: str) -> int:
    """The depth the text readout describes ("Through 50 layers ...")."""
    match = re.search(r"Through (\d+) layers?", text)
    assert match, f"no 'Through N layers' in the readout: {text!r}"
    return int(match.group(1))


@pytest.fixture(scope="module")
def chapter(module_lab):
    """Chapter 1 opened and run once; returns the LabPage."""
    module_lab.open(NOTEBOOK)
    module_lab.run_all()
    return module_lab


@pytest.fixture
def widget(chapter):
    return chapter.page.locator(WIDGET)


@pytest.fixture
def depth_slider(chapter):
    return chapter.widget_slider("depth")


def set_depth_with_keys(lab, depth_slider, depth: int) -> None:
    """Move the depth slider to `depth` from the keyboard and wait until the readout says so."""
    from playwright.sync_api import expect

    handle = depth_slider.locator(".noUi-handle")
    handle.focus()
    current = int(depth_slider.locator(".widget-readout").inner_text())
    key = "ArrowRight" if depth > current else "ArrowLeft"
    if depth == 50:
        lab.page.keyboard.press("End")
    else:
        for _ in range(abs(depth - current)):
            lab.page.keyboard.press(key)
    expect(depth_slider.locator(".widget-readout")).to_have_text(str(depth))
    expect(lab.page.locator(f"{WIDGET} {READOUT}")).to_contain_text(
        f"Through {depth} layers", timeout=30_000
    )


def test_chapter_runs_without_errors(chapter):
    assert chapter.error_outputs() == [], "a cell of Chapter 1 shows an error"


def test_depth_slider_redraws_plot_and_readout(chapter, widget, depth_slider):
    from playwright.sync_api import expect

    expect(widget).to_be_visible()
    readout = widget.locator(READOUT)
    plot = widget.locator(".widget-output img")
    expect(plot).to_be_visible()
    start = int(depth_slider.locator(".widget-readout").inner_text())
    assert start < 50, "the chapter's widget should not start at the deepest setting"
    before = (readout.inner_text(), plot.get_attribute("src"))
    assert depth_in_readout(before[0]) == start

    watch = chapter.watch(widget, READOUT)
    depth_slider.locator(".noUi-handle").focus()
    chapter.page.keyboard.press("ArrowRight")
    watch.wait_for_plots(1)
    watch.wait_until_quiet(500)

    after = (readout.inner_text(), plot.get_attribute("src"))
    expect(depth_slider.locator(".widget-readout")).to_have_text(str(start + 1))
    assert depth_in_readout(after[0]) == start + 1
    assert after[1] != before[1], "the plot did not change after moving the depth slider"
    assert chapter.error_outputs() == [], "moving the depth slider produced an error"
    chapter.screenshot("ch01_gradient_flow_widget", widget)


def test_latency_key_press_to_plot_at_depth_50(
    chapter, widget, depth_slider, artifacts_dir, report_benchmark
):
    """Median time from a key press to the redrawn plot on screen, alternating depth 50 and 49."""
    set_depth_with_keys(chapter, depth_slider, 50)
    watch = chapter.watch(widget, READOUT)
    watch.wait_until_quiet(500)
    depth_slider.locator(".noUi-handle").focus()

    latencies_ms = []
    for move in range(LATENCY_MOVES):
        seen = watch.plot_count()
        chapter.page.keyboard.press("ArrowLeft" if move % 2 == 0 else "ArrowRight")
        watch.wait_for_plots(seen + 1)
        watch.wait_until_quiet(300)
        state = watch.state()
        assert len(state["plots"]) == seen + 1, "one key press redrew the plot more than once"
        latencies_ms.append(state["plots"][-1]["frame"] - state["keys"][-1])
    assert depth_in_readout(widget.locator(READOUT).inner_text()) == 50

    median_ms = statistics.median(latencies_ms)
    result = {
        "what": "Chapter 1 gradient-flow widget: key press on the depth slider to redrawn plot "
        "on screen, depth alternating 50/49, headless Chromium",
        "moves": LATENCY_MOVES,
        "median_ms": round(median_ms, 1),
        "min_ms": round(min(latencies_ms), 1),
        "max_ms": round(max(latencies_ms), 1),
        "target_ms": LATENCY_TARGET_MS,
        "samples_ms": [round(t, 1) for t in latencies_ms],
    }
    (artifacts_dir / "latency.json").write_text(json.dumps(result, indent=2) + "\n")
    report_benchmark(
        f"Chapter 1 widget latency at depth 50: median {median_ms:.0f} ms over "
        f"{LATENCY_MOVES} moves (min {min(latencies_ms):.0f}, max {max(latencies_ms):.0f}; "
        f"target <= {LATENCY_TARGET_MS} ms)"
    )
    assert median_ms < LATENCY_BOUND_MS, f"the widget takes {median_ms:.0f} ms per move"


def test_key_burst_does_not_queue_stale_redraws(chapter, widget, depth_slider, report_benchmark):
    """Ten fast key presses end on the final depth soon, without one redraw per press."""
    from playwright.sync_api import expect

    set_depth_with_keys(chapter, depth_slider, 50)
    watch = chapter.watch(widget, READOUT)
    watch.wait_until_quiet(500)
    depth_slider.locator(".noUi-handle").focus()
    for _ in range(BURST_KEYS):
        chapter.page.keyboard.press("ArrowLeft")
    final = 50 - BURST_KEYS
    expect(depth_slider.locator(".widget-readout")).to_have_text(str(final))
    expect(widget.locator(READOUT)).to_contain_text(f"Through {final} layers", timeout=10_000)
    watch.wait_until_quiet(1000)

    state = watch.state()
    settle_ms = state["plots"][-1]["frame"] - state["keys"][-1]
    redraws = len(state["plots"])
    report_benchmark(
        f"Chapter 1 widget, {BURST_KEYS} fast key presses (50 -> {final}): {redraws} redraws, "
        f"final plot {settle_ms:.0f} ms after the last key"
    )
    assert depth_in_readout(widget.locator(READOUT).inner_text()) == final
    assert redraws <= MAX_BURST_REDRAWS, (
        f"{BURST_KEYS} key presses caused {redraws} redraws: the widget queues stale updates "
        "(throttle or debounce the redraw in gradlab.ui.wiring)"
    )


def test_drag_redraws_once_on_release(chapter, widget, depth_slider, report_benchmark):
    """Dragging the depth handle across the track redraws on release, not at every step."""
    from playwright.sync_api import expect

    set_depth_with_keys(chapter, depth_slider, 50)
    watch = chapter.watch(widget, READOUT)
    watch.wait_until_quiet(500)
    handle = depth_slider.locator(".noUi-handle").bounding_box()
    track = depth_slider.locator(".noUi-base").bounding_box()
    mouse = chapter.page.mouse
    mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    mouse.down()
    mouse.move(track["x"] - 20, handle["y"] + handle["height"] / 2, steps=25)
    mouse.up()
    expect(depth_slider.locator(".widget-readout")).to_have_text("1")
    expect(widget.locator(READOUT)).to_contain_text("Through 1 layer ", timeout=10_000)
    watch.wait_until_quiet(1000)
    redraws = watch.plot_count()
    report_benchmark(f"Chapter 1 widget, drag from depth 50 to 1: {redraws} redraw(s)")
    assert redraws <= MAX_BURST_REDRAWS, f"one drag caused {redraws} redraws"
