"""Fixtures that drive the course as a learner sees it: JupyterLab in headless Chromium.

One JupyterLab server (started from this test run's own Python, on 127.0.0.1 with a random port and
token, settings in a temporary folder) and one Chromium serve every test in tests/browser/; both are
stopped when the last browser test ends, whatever happens. The browser is Debian's `chromium`
package driven by Playwright for Python; we never download a browser. When Chromium or Playwright is
missing, every browser test is skipped with a loud reason (set GRADLAB_REQUIRE_BROWSER=1 to make that
an error instead, e.g. in CI).

Why "package" scope: Playwright's sync API marks its asyncio loop as running between calls, which
breaks nbval and nbclient (they run their own loop) if it stays alive after the browser tests.
tests/browser/__init__.py makes this folder a package, so both fixtures end with its last test.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_TIMEOUT_S = 60
VIEWPORT = {"width": 1280, "height": 900}

# Lab settings for a quiet, stable test run: no autosave (a test must never rewrite a notebook in the
# repo), no news or update pop-ups over the widgets, and every cell kept in the DOM (JupyterLab 4
# otherwise virtualises cells that are off screen, hiding them from selectors).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # Screen-reader mode mirrors a terminal's text into the page, where a test can read it.
    "@jupyterlab/terminal-extension/plugin.jupyterlab-settings": {"screenReaderMode": True},
}

_skipped_reasons: list[str] = []
_benchmark_lines: list[str] = []


def find_chromium() -> str | None:
    """Path of the system Chromium, or None. GRADLAB_CHROMIUM overrides the search."""
    override = os.environ.get("GRADLAB_CHROMIUM")
    if override:
        return override if Path(override).exists() else None
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def skip_loudly(reason: str) -> None:
    """Skip the current test, or fail it when GRADLAB_REQUIRE_BROWSER=1; never pass silently."""
    message = f"BROWSER TESTS NOT RUN: {reason}"
    if os.environ.get("GRADLAB_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " (GRADLAB_REQUIRE_BROWSER=1 makes this an error)")
    if reason not in _skipped_reasons:
        _skipped_reasons.append(reason)
        warnings.warn(message, stacklevel=2)
    pytest.skip(message)


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the browser benchmarks, and repeat any skip reason in a banner nobody can miss."""
    if _benchmark_lines:
        terminalreporter.write_sep("-", "browser benchmarks")
        for line in _benchmark_lines:
            terminalreporter.write_line(line)
    for reason in _skipped_reasons:
        terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"{reason}", red=True, bold=True)
        terminalreporter.write_line(
            "Widgets were NOT checked in a real browser. Install Chromium "
            "(apt-get install -y chromium) and Playwright (pip install playwright), then rerun "
            "`make test-browser`.",
            red=True,
        )


@dataclass
class LabServer:
    """A running JupyterLab: where it listens and how to authenticate."""

    url: str
    token: str
    process: subprocess.Popen
    log_path: Path

    def api(self, method: str, path: str) -> object:
        """Call the Jupyter REST API; returns the decoded JSON (None for an empty body)."""
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Stop every kernel the tests started, so later tests get the CPU to themselves."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_lab_settings(settings_dir: Path) -> None:
    for relative, values in LAB_SETTINGS.items():
        path = settings_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _lab_environment(home: Path) -> dict[str, str]:
    """Environment for JupyterLab: user config, data and runtime in `home`, not the user's own.

    The widget front-end (@jupyter-widgets/jupyterlab-manager) ships in
    sys.prefix/share/jupyter/labextensions; JUPYTER_PATH keeps it on the data path explicitly.
    """
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "lab" / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "lab" / "workspaces"),
        IPYTHONDIR=str(home / "ipython"),
        JUPYTER_PATH=os.pathsep.join(
            p for p in [str(Path(sys.prefix) / "share" / "jupyter"), env.get("JUPYTER_PATH")] if p
        ),
        PYTHONUNBUFFERED="1",
    )
    env.pop("JUPYTER_TOKEN", None)
    return env


def _stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left after 10 s."""
    if process.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_until_ready(server: LabServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            server.api("GET", "/api/status")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    log = server.log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(
        f"JupyterLab did not answer /api/status within {SERVER_START_TIMEOUT_S} s "
        f"(exit code {server.process.poll()}). Last lines of {server.log_path}:\n{log}"
    )


def start_lab_server(root_dir: Path, home: Path, log_path: Path) -> LabServer:
    """Start JupyterLab exactly as `make lab` does (gradlab.ui.lab), plus test-only options.

    The course options (root folder, start page, terminals that run this Python) come from
    gradlab.ui.lab.lab_command and lab_environment, the code behind `make lab`; the test adds only a
    private port and token, no browser window, and settings that keep a run quiet and the repo clean.
    """
    from gradlab.ui.lab import lab_command, lab_environment

    port = _free_port()
    token = os.urandom(16).hex()
    test_options = [
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        # window.jupyterapp lets a test ask Lab whether a notebook has loaded and its kernel is
        # idle; the DOM alone shows an empty placeholder notebook with an "idle" kernel first.
        "--LabApp.expose_app_in_browser=True",
        # Lab saves a checkpoint of each notebook it opens; keep those out of the repository.
        f"--FileCheckpoints.checkpoint_dir={home / 'checkpoints'}",
    ]
    command = lab_command(root_dir, test_options, rc_folder=home)
    _write_lab_settings(home / "lab" / "user-settings")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        # A new session makes the server the leader of its own process group, so the whole
        # group can be stopped at the end (kernels get their own groups and are shut down via the API).
        process = subprocess.Popen(
            command,
            cwd=root_dir,
            env=lab_environment(_lab_environment(home)),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LabServer(f"http://127.0.0.1:{port}", token, process, log_path)
    try:
        _wait_until_ready(server)
    except BaseException:
        _stop_process_group(process)
        raise
    return server


@pytest.fixture(scope="package")
def chromium_path() -> str:
    """The system Chromium; skips (loudly) every browser test when it or Playwright is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_loudly("Playwright for Python is not installed (pip install -r requirements.txt)")
    path = find_chromium()
    if path is None and os.environ.get("GRADLAB_CHROMIUM"):
        skip_loudly(f"GRADLAB_CHROMIUM={os.environ['GRADLAB_CHROMIUM']} does not exist")
    if path is None:
        skip_loudly("Chromium not found on PATH (Debian/Ubuntu: apt-get install -y chromium)")
    return path


@pytest.fixture(scope="package")
def lab_server(chromium_path: str) -> Iterator[LabServer]:
    """One JupyterLab for all browser tests, rooted at the repository, stopped at the end."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="gradlab-lab-"))
    server = start_lab_server(REPO_ROOT, home, ARTIFACTS / "jupyterlab.log")
    try:
        yield server
    finally:
        # If the server is gone already, stopping its process group is all that is left.
        with contextlib.suppress(urllib.error.URLError, OSError):
            server.shutdown_kernels()
        _stop_process_group(server.process)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="package")
def browser(chromium_path: str):
    """Headless Chromium with a fresh profile, shared by the browser tests."""
    from playwright.sync_api import sync_playwright

    profile = Path(tempfile.mkdtemp(prefix="gradlab-chromium-"))
    with sync_playwright() as playwright:
        # A persistent context is the only way to give Chromium an explicit, fresh user-data dir.
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


# True once the current notebook's file has loaded and its kernel is connected and idle.
NOTEBOOK_READY_JS = """() => {
    const app = window.jupyterapp;
    const widget = app && app.shell.currentWidget;
    if (!widget || !widget.context || !widget.context.isReady || !widget.sessionContext) {
        return false;
    }
    const session = widget.sessionContext;
    const kernel = session.session && session.session.kernel;
    return session.isReady && !!kernel && kernel.connectionStatus === "connected"
        && kernel.status === "idle";
}"""


class LabPage:
    """One notebook open in JupyterLab, with the handful of actions a learner takes."""

    def __init__(self, page, server: LabServer):
        self.page = page
        self.server = server

    def open(self, notebook: str, timeout_ms: int = 60_000) -> None:
        """Open `notebook` (a path relative to the repo) in a clean workspace; wait for its kernel."""
        url = f"{self.server.url}/lab/tree/{notebook}?reset&token={self.server.token}"
        self.page.goto(url)
        deadline = time.monotonic() + timeout_ms / 1000
        while not self.page.evaluate(NOTEBOOK_READY_JS):
            # Lab asks for a kernel when it loads a notebook before it knows the kernelspecs;
            # the preferred kernel (python3, from the notebook's metadata) is the default choice.
            dialog = self.page.locator(".jp-Dialog .jp-mod-accept")
            if dialog.count() and dialog.first.is_visible():
                dialog.first.click()
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{notebook} did not load with an idle kernel in {timeout_ms} ms"
                )
            time.sleep(0.1)

    def wait_for_kernel_idle(self, timeout_ms: int = 60_000) -> None:
        self.page.wait_for_function(NOTEBOOK_READY_JS, timeout=timeout_ms)

    def menu(self, top: str, item: str) -> None:
        self.page.locator(f".lm-MenuBar-itemLabel:text-is('{top}')").click()
        self.page.locator(f".lm-Menu-itemLabel:text-is('{item}')").click()

    def run_all(self, timeout_ms: int = 300_000) -> None:
        """Clear stored outputs, run every cell, and wait until each code cell has run.

        Clearing first means every output checked afterwards comes from this run, not from the
        outputs saved in the notebook.
        """
        self.menu("Edit", "Clear Outputs of All Cells")
        self.page.wait_for_function(
            """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                    .every(p => !/\\d/.test(p.textContent))""",
            timeout=10_000,
        )
        self.menu("Run", "Run All Cells")
        self.page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
                return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""",
            timeout=timeout_ms,
        )
        self.wait_for_kernel_idle(timeout_ms)

    def error_outputs(self, settle_ms: int = 10_000) -> list[str]:
        """Text of every error or stderr output, and of every widget that did not render.

        A widget view whose model is missing shows "Loading widget..." for a while and then "Error
        displaying widget: model not found"; without the widget front-end, Lab shows the widget's
        text stand-in (e.g. "VBox(children=...)"). All three count as problems. Waits up to
        `settle_ms` for "Loading widget..." placeholders to resolve first.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        with contextlib.suppress(PlaywrightTimeout):  # still loading: reported below as a problem
            self.page.wait_for_function(
                """() => ![...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')]
                        .some(el => el.innerText.includes('Loading widget...'))""",
                timeout=settle_ms,
            )
        return self.page.evaluate(
            r"""() => {
                const errors = [
                  ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                  ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']",
                  ".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']",
                ].join(',');
                const widgetText = /^(Error displaying widget|Loading widget\.\.\.)/m;
                const widgetRepr = /^[A-Z]\w*\((children|value|description|outputs|layout)=/;
                const found = new Set();
                for (const el of document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')) {
                  const text = el.innerText.trim();
                  const isPlainText = el.getAttribute('data-mime-type') === 'text/plain';
                  if (el.matches(errors) || widgetText.test(text)
                      || (isPlainText && widgetRepr.test(text))) {
                    found.add(text.slice(0, 2000) || el.outerHTML.slice(0, 300));
                  }
                }
                return [...found];
            }"""
        )

    def widget_slider(self, description: str):
        """The ipywidgets slider whose label reads exactly `description`."""
        label = self.page.locator(
            ".widget-label", has_text=re.compile(f"^{re.escape(description)}$")
        )
        return self.page.locator(".widget-slider").filter(has=label)

    def watch(self, root, text_selector: str | None = None) -> "WidgetWatch":
        """Start recording the redraws of the widget at locator `root` (see WidgetWatch)."""
        return WidgetWatch(self.page, root, text_selector)

    def screenshot(self, name: str, locator=None) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        (locator or self.page).screenshot(path=str(path))
        return path


# Records, in the browser's own clock (performance.now(), ms), every key press and every change of
# the widget's plot (its <img> source) and of its text readout. Each plot change also notes the
# next animation frame, i.e. when the new plot is on screen. Measuring inside the page keeps
# Playwright's round-trips out of the numbers.
WATCH_JS = """(root, textSelector) => {
    const state = {keys: [], plots: [], texts: []};
    const source = () => { const img = root.querySelector('img'); return img ? img.src : null; };
    const text = () => {
        const el = textSelector ? root.querySelector(textSelector) : null;
        return el ? el.innerText : null;
    };
    let lastSource = source();
    let lastText = text();
    new MutationObserver(() => {
        const now = performance.now();
        const newSource = source();
        if (newSource && newSource !== lastSource) {
            lastSource = newSource;
            const entry = {dom: now, frame: null};
            state.plots.push(entry);
            requestAnimationFrame(() => { entry.frame = performance.now(); });
        }
        const newText = text();
        if (newText !== null && newText !== lastText) {
            lastText = newText;
            state.texts.push({dom: now, text: newText});
        }
    }).observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
    document.addEventListener('keydown', () => state.keys.push(performance.now()), true);
    window.__gradlabWatch = state;
}"""


class WidgetWatch:
    """Counts and times the redraws of one widget (see WATCH_JS); one watch per page at a time."""

    def __init__(self, page, root, text_selector: str | None = None):
        self.page = page
        root.evaluate(WATCH_JS, text_selector)

    def state(self) -> dict:
        return self.page.evaluate("() => window.__gradlabWatch")

    def plot_count(self) -> int:
        return self.page.evaluate("() => window.__gradlabWatch.plots.length")

    def wait_for_plots(self, count: int, timeout_ms: int = 30_000) -> None:
        """Wait until at least `count` plot changes were seen and the last one is on screen."""
        self.page.wait_for_function(
            """(count) => {
                const plots = window.__gradlabWatch.plots;
                return plots.length >= count && plots[plots.length - 1].frame !== null;
            }""",
            arg=count,
            timeout=timeout_ms,
        )

    def wait_until_quiet(self, quiet_ms: int = 1000, timeout_ms: int = 30_000) -> None:
        """Wait until neither the plot nor the text has changed for `quiet_ms`."""
        deadline = time.monotonic() + timeout_ms / 1000
        while time.monotonic() < deadline:
            quiet_for = self.page.evaluate(
                """() => {
                    const s = window.__gradlabWatch;
                    const times = [...s.plots.map(p => p.dom), ...s.texts.map(t => t.dom), 0];
                    return performance.now() - Math.max(...times);
                }"""
            )
            if quiet_for >= quiet_ms:
                return
            time.sleep(max(0.05, (quiet_ms - quiet_for) / 1000))
        raise TimeoutError(f"the widget kept redrawing for {timeout_ms} ms")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """When a browser test fails, save a screenshot of its JupyterLab tab as <test>-FAILED.png."""
    report = yield
    if report.when == "call" and report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, LabPage) and not value.page.is_closed():
                with contextlib.suppress(Exception):  # a screenshot must not hide the failure
                    value.screenshot(f"{item.name}-FAILED")
    return report


@contextlib.contextmanager
def _lab_tab(server: LabServer, browser) -> Iterator[LabPage]:
    page = browser.new_page()
    page.set_default_timeout(30_000)
    try:
        yield LabPage(page, server)
    finally:
        page.close()
        # Stop the tab's kernel (Chapter 1's holds torch), so later tests get the CPU to themselves.
        with contextlib.suppress(urllib.error.URLError, OSError):
            server.shutdown_kernels()


@pytest.fixture
def report_benchmark():
    """Print a line in the run's summary (also without -s), e.g. a measured latency."""
    return _benchmark_lines.append


@pytest.fixture(scope="package")
def artifacts_dir() -> Path:
    """test-artifacts/browser/ (not committed): screenshots, latency.json, the server's log."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def lab(lab_server: LabServer, browser) -> Iterator[LabPage]:
    """A fresh browser tab on the shared JupyterLab; its kernels are shut down afterwards."""
    with _lab_tab(lab_server, browser) as lab_page:
        yield lab_page


@pytest.fixture(scope="module")
def module_lab(lab_server: LabServer, browser) -> Iterator[LabPage]:
    """Like `lab`, but one tab for a whole test module (open and run a chapter only once)."""
    with _lab_tab(lab_server, browser) as lab_page:
        yield lab_page
