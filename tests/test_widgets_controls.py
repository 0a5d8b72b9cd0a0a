"""The shared control layout and the busy state of gradlab.ui.wiring.wire, for every gradlab demo."""

import ipywidgets as widgets
import matplotlib
import matplotlib.pyplot as plt
import pytest

from gradlab.chapters.ch01_chain_rule.widgets import make_gradient_flow_demo
from gradlab.chapters.ch02_activations.widgets import (
    make_activation_explorer_demo,
    make_gradient_after_depth_demo,
)
from gradlab.chapters.ch03_exploding.widgets import make_growth_demo, make_time_demo
from gradlab.chapters.ch07_monitoring.widgets import make_dashboard_demo
from gradlab.ui.controls import (
    DESCRIPTION_WIDTH,
    SLIDER_WIDTH,
    SLIDERS,
    float_slider,
    int_slider,
    lay_out_controls,
)
from gradlab.ui.selftest import make_widget_selftest
from gradlab.ui.wiring import BUSY_TEXT, wire

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks, as the chapters run them

matplotlib.use("Agg")

# Every demo a chapter shows, and whether its updates can take over ~0.5 s (so it shows a busy
# state). Measured worst updates (compute and PNG): gradient flow 0.17 s, activation explorer
# 0.06 s, growth 0.19 s (0.26 s key to plot in Lab); after-depth 0.43-0.52 s; time at T = 100
# 0.13 s alone but up to 0.64 s key to plot in Lab (1.4 s in the issue); dashboard 0.3-2.5 s.
DEMOS = {
    "gradient-flow": (make_gradient_flow_demo, False),
    "activation-explorer": (make_activation_explorer_demo, False),
    "gradient-after-depth": (lambda: make_gradient_after_depth_demo(depth=3), True),
    "growth": (make_growth_demo, False),
    "time": (make_time_demo, True),
    "dashboard": (lambda: make_dashboard_demo(scenario="healthy", steps=10), True),
}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")  # under Agg, wire's plt.show() leaves every figure open


def walk(widget):
    """The widget and every widget inside it, depth first."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def with_class(demo, css_class):
    return [widget for widget in walk(demo) if css_class in widget._dom_classes]


def controls_of(demo):
    return [w for w in walk(demo) if isinstance(w, widgets.ValueWidget) and w.description]


@pytest.fixture(scope="module", params=list(DEMOS))
def demo(request):
    make, _ = DEMOS[request.param]
    return request.param, make()


def test_every_slider_has_its_own_wide_row_and_a_fixed_label(demo):
    name, box = demo
    (controls,) = with_class(box, "gradlab-controls")
    sliders = [w for w in walk(box) if isinstance(w, SLIDERS)]
    assert sliders, name
    for slider in sliders:
        assert slider in controls.children, f"{slider.description} shares a row"
        assert (slider.layout.width, slider.layout.max_width) == ("100%", SLIDER_WIDTH)
        assert slider.style.description_width == DESCRIPTION_WIDTH
    for menu in (w for w in walk(box) if isinstance(w, widgets.Dropdown)):
        assert menu.style.description_width == DESCRIPTION_WIDTH
        assert menu.layout.width == "max-content"  # never cuts its longest option
        assert menu not in controls.children  # the choices share one row beneath the sliders


def test_selftest_slider_has_the_shared_layout():
    slider, _ = make_widget_selftest().children
    assert (slider.layout.width, slider.layout.max_width) == ("100%", SLIDER_WIDTH)
    assert slider.continuous_update  # trivial work: every step redraws


def test_busy_line_only_on_slow_demos_and_idle_after_building(demo):
    name, box = demo
    busy_lines = with_class(box, "gradlab-busy")
    if DEMOS[name][1]:
        assert len(busy_lines) == 1 and busy_lines[0].value == ""
        assert busy_lines[0] not in with_class(box, "gradlab-readout")
    else:
        assert busy_lines == []  # fast: no busy state, controls never disabled
    assert not any(control.disabled for control in controls_of(box))


@pytest.mark.parametrize("name", [name for name, (_, slow) in DEMOS.items() if slow])
def test_slow_demo_is_busy_while_it_computes(name, monkeypatch):
    """The busy line and disabled controls are in place before the compute runs, gone after."""
    box = DEMOS[name][0]()
    (status,) = with_class(box, "gradlab-busy")
    controls = controls_of(box)
    seen = []
    import gradlab.ui.wiring as wiring

    real_show = wiring.plt.show

    def show_and_record(*args, **kwargs):  # called by wire right after render has drawn
        seen.append((status.value, [control.disabled for control in controls]))
        return real_show(*args, **kwargs)

    monkeypatch.setattr(wiring.plt, "show", show_and_record)
    slider = next(control for control in controls if isinstance(control, SLIDERS))
    slider.value = slider.max
    assert len(seen) == 1
    text, disabled = seen[0]
    assert all(disabled), f"{name}: controls live during the update"
    assert text == BUSY_TEXT or (name == "dashboard" and text.startswith("training '"))
    assert status.value == "" and not any(control.disabled for control in controls)


def make_wired(render, *, busy=True):
    controls = {
        "depth": int_slider(3, 1, 10, "depth"),
        "scale": float_slider(1.0, 0.1, 3.0, 0.1, "scale"),
        "kind": widgets.Dropdown(options=["a", "b"], value="a", description="kind"),
    }
    return controls, wire(controls, render, "gradlab-test", busy=busy)


def test_a_raising_update_clears_the_busy_state_and_reenables_the_controls():
    def render(depth, scale, kind):
        if depth == 7:
            raise RuntimeError("compute failed")
        return f"depth {depth}"

    controls, box = make_wired(render)
    controls["kind"].disabled = True  # disabled by its owner: must stay disabled
    (status,) = with_class(box, "gradlab-busy")
    with pytest.raises(RuntimeError, match="compute failed"):
        controls["depth"].value = 7
    assert status.value == ""
    assert [c.disabled for c in controls.values()] == [False, False, True]
    controls["depth"].value = 8  # and the widget still works
    assert "depth 8" in with_class(box, "gradlab-readout")[0].value


def test_fast_wiring_never_touches_disabled():
    changes = []
    controls, box = make_wired(lambda depth, scale, kind: f"depth {depth}", busy=False)
    for control in controls.values():
        control.observe(changes.append, names="disabled")
    controls["depth"].value = 9
    controls["scale"].value = 2.0
    assert changes == [] and with_class(box, "gradlab-busy") == []
    assert "depth 9" in with_class(box, "gradlab-readout")[0].value


def test_busy_options_without_busy_are_refused():
    with pytest.raises(ValueError, match=r"busy_text=.*clear_while_busy=True need busy=True"):
        wire({}, lambda: "", "gradlab-test", clear_while_busy=True)


def test_lay_out_controls_styles_sliders_built_elsewhere():
    slider = widgets.IntSlider(description="steps")  # ipywidgets' default: 300 px, label 80 px
    menu = widgets.Dropdown(options=["a"], description="kind")
    box = lay_out_controls([menu, slider])
    assert box.children[0] is slider and box.children[1].children == (menu,)
    assert slider.layout.max_width == SLIDER_WIDTH
    assert slider.style.description_width == DESCRIPTION_WIDTH
