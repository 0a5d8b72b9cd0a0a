"""The learner's path in JupyterLab, end to end: `make lab` → start page → exercise → graded.

The server is started exactly as `make lab` starts it (gradlab.ui.lab; see conftest.start_lab_server).
"""

import re
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.browser

START_PAGE = "notebooks/00_start_here.ipynb"
EXERCISE = "exercises/01_chain_rule_exercises.ipynb"

# The path of the notebook in Lab's current tab, or null.
CURRENT_PATH_JS = """() => {
    const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    return widget && widget.context ? widget.context.path : null;
}"""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_lab_root_opens_on_the_start_page(lab_server):
    """`make lab` opens the server's root URL: it must lead to the start page."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(f"{lab_server.url}/?token={lab_server.token}")
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(request, timeout=10)
    assert redirect.value.code == 302
    assert redirect.value.headers["Location"].split("?")[0].endswith(f"/lab/tree/{START_PAGE}")


def test_start_page_opens_and_its_first_exercise_link_opens_the_exercise(lab):
    from playwright.sync_api import expect

    lab.page.goto(f"{lab.server.url}/?token={lab.server.token}")
    lab.page.wait_for_function(f"() => ({CURRENT_PATH_JS})() === '{START_PAGE}'", timeout=60_000)
    lab.wait_for_kernel_idle()

    # The chapter table's first exercises link ("01" in the Exercises column).
    link = lab.page.locator(".jp-RenderedMarkdown a", has_text=re.compile(r"^01$")).first
    link.scroll_into_view_if_needed()
    link.click()
    lab.page.wait_for_function(f"() => ({CURRENT_PATH_JS})() === '{EXERCISE}'", timeout=30_000)
    tab = lab.page.locator(".lm-TabBar-tab", has_text="01_chain_rule_exercises.ipynb")
    expect(tab).to_be_visible()
    # the start page is still open in its own tab
    expect(lab.page.locator(".lm-TabBar-tab", has_text="00_start_here.ipynb")).to_be_visible()


def test_grading_from_labs_terminal_prints_the_table(lab):
    lab.page.goto(f"{lab.server.url}/lab?reset&token={lab.server.token}")
    lab.page.wait_for_function(
        "() => !!window.jupyterapp && window.jupyterapp.commands.hasCommand('terminal:create-new')",
        timeout=60_000,
    )
    lab.page.evaluate("() => window.jupyterapp.commands.execute('terminal:create-new')")
    terminal = lab.page.locator(".jp-Terminal").last
    terminal.wait_for(state="visible", timeout=30_000)
    terminal.click()
    lab.page.wait_for_timeout(1000)  # let the shell print its prompt
    lab.page.keyboard.type(f"python -m gradlab.grade {EXERCISE}\n")
    screen = terminal.locator(".xterm-accessibility-tree")
    lab.page.wait_for_function(
        "(el) => /total\\s+\\d+\\/\\d+|Traceback|No module named/.test(el.innerText)",
        arg=screen.element_handle(),
        timeout=90_000,
    )
    text = screen.inner_text()
    assert "ModuleNotFoundError" not in text and "No module named" not in text, text
    assert re.search(r"01_chain_rule_exercises\.ipynb", text), text
    assert re.search(r"exercise\s+points\s+result", text), text
    assert re.search(r"total\s+0/\d+", text), text  # the exercises as shipped are not done yet


def test_grading_cell_at_the_end_of_an_exercise_grades_the_saved_file(lab):
    from playwright.sync_api import expect

    lab.open(EXERCISE)
    cells = lab.page.locator(".jp-Notebook .jp-CodeCell")
    last_cell = cells.nth(cells.count() - 1)  # a locator: found again if Lab re-renders the cell
    last_cell.scroll_into_view_if_needed()
    expect(last_cell.locator(".jp-InputArea")).to_contain_text("grade_saved_notebook(")
    last_cell.locator(".jp-InputArea-editor").click()
    lab.page.keyboard.press("Control+Enter")  # run this cell, stay on it
    output = last_cell.locator(".jp-OutputArea")
    expect(output).to_contain_text(re.compile(r"total\s+\d+/\d+|Traceback"), timeout=90_000)
    text = output.inner_text()
    assert "as saved at" in text, text
    assert re.search(r"exercise\s+points\s+result", text), text
    assert re.search(r"total\s+0/\d+", text), text
    assert lab.error_outputs() == []
