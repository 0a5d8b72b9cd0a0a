"""Run a notebook's code cells in a fresh, disposable kernel and survive whatever they do.

Used by gradlab.grading.grade. Built on nbclient, with what a grader needs on top:
- a per-cell timeout; on timeout the kernel is interrupted, and if it does not answer within a grace
  period (a loop that swallows KeyboardInterrupt) its whole process group is killed;
- a wall-clock limit for the notebook, enforced by a watchdog that kills the process group;
- after a kernel death (``os._exit``, a kill) a new kernel replays the cells that ran before and
  execution continues after the offending cell, so later exercises are still graded;
- check results (``gradlab.grading.checks.RESULT_MIME``) are collected as they arrive, and each cell keeps
  at most ``max_output_chars`` of output, so megabytes of prints cost neither memory nor time;
- the connection file lives in a temporary folder that is removed, and the kernel runs there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import nbformat
from jupyter_client import KernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from gradlab.grading.checks import RESULT_MIME, CheckResult, shorten
from gradlab.grading.declarations import read_check_result
from gradlab.grading.grade_saved import GRADING_ENV

ERROR_DETAIL_CHARS = 1000  # an error detail kept for the table; longer ones are marked shortened


@dataclass(frozen=True)
class RunLimits:
    """Time and size limits for one notebook (seconds and characters)."""

    cell_timeout: float = 60.0
    total_timeout: float = 600.0
    startup_timeout: float = 60.0
    interrupt_grace: float = 3.0
    max_output_chars: int = 2_000_000  # per cell; a figure is ~50_000, a flood is megabytes
    max_restarts: int = 3


@dataclass
class CellRun:
    """What happened to one code cell: status is ok, error, timeout, died or not_run."""

    index: int
    status: str = "not_run"
    detail: str = ""
    results: list[CheckResult] = field(default_factory=list)
    truncated: bool = False


@dataclass
class NotebookRun:
    """Every code cell's run, plus the kernels' process groups (to prove they are gone)."""

    cells: dict[int, CellRun]
    restarts: int = 0
    kernel_process_groups: list[int] = field(default_factory=list)
    error: str = ""


class _RecordingClient(NotebookClient):
    """An nbclient that sets check results aside and caps the output each cell keeps."""

    def __init__(self, notebook: Any, connection_file: str, max_output_chars: int, **kwargs: Any):
        super().__init__(notebook, **kwargs)
        self.connection_file = connection_file
        self.max_output_chars = max_output_chars
        self.recording = True
        self.results: dict[int, list[CheckResult]] = defaultdict(list)
        self.errors: dict[int, str] = {}
        self.kept_chars: dict[int, int] = defaultdict(int)
        self.truncated: set[int] = set()

    def create_kernel_manager(self) -> KernelManager:
        self.km = self.kernel_manager_class(
            kernel_name=self.kernel_name, connection_file=self.connection_file
        )
        return self.km

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> Any:
        content = msg.get("content", {})
        data = content.get("data") or {}
        if self.recording and msg.get("msg_type") == "error":
            self.errors[cell_index] = shorten(
                f"{content.get('ename')}: {content.get('evalue')}", ERROR_DETAIL_CHARS
            )
        if self.recording and RESULT_MIME in data:
            result = read_check_result(data)
            if result is not None:
                self.results[cell_index].append(result)
        size = len(content.get("text", "")) + sum(len(str(value)) for value in data.values())
        if self.kept_chars[cell_index] + size > self.max_output_chars:
            self.truncated.add(cell_index)
            return None
        self.kept_chars[cell_index] += size
        return super().output(outs, msg, display_id, cell_index)


_QUIET_LOG = logging.getLogger("gradlab.grading.grade.kernel")
_QUIET_LOG.addHandler(logging.NullHandler())
_QUIET_LOG.propagate = False


def kill_process_group(process_group: int | None) -> None:
    """SIGKILL a kernel's process group (the kernel and anything it started); quiet if gone."""
    if process_group is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process_group, signal.SIGKILL)


class _KernelSession:
    """One kernel: start it, run cells under limits, and always tear it down."""

    def __init__(self, notebook: Any, limits: RunLimits, folder: str, deadline: float):
        self.limits, self.deadline = limits, deadline
        self.client = _RecordingClient(
            notebook,
            connection_file=os.path.join(folder, "kernel.json"),
            max_output_chars=limits.max_output_chars,
            kernel_name="python3",
            allow_errors=True,
            startup_timeout=max(1, int(limits.startup_timeout)),
            shutdown_kernel="immediate",
            record_timing=False,
            resources={"metadata": {"path": folder}},
            log=_QUIET_LOG,  # timeouts and deaths are reported by the grader, not logged
        )
        self.timeout = limits.cell_timeout
        self.client.timeout_func = lambda cell: self.timeout
        self.process_group: int | None = None
        self.client.km = self.client.create_kernel_manager()
        # the kernel's own stdout/stderr (not the cells' output, which comes over IOPub) is noise
        # GRADING_ENV tells a notebook's own grading cell not to start another grader (no recursion)
        self.client.start_new_kernel(
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, GRADING_ENV: "1"},
        )
        self.process_group = getattr(self.client.km.provisioner, "pgid", None)
        self.client.start_new_kernel_client()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, cell: Any, index: int) -> tuple[str, str]:
        """Execute one cell; returns (status, detail)."""
        self.timeout = max(0.1, min(self.limits.cell_timeout, self.remaining()))
        self.client.errors.pop(index, None)
        try:
            self.client.execute_cell(cell, index)
        except CellTimeoutError:
            return self._recover_from_timeout()
        except DeadKernelError:
            return "died", "the kernel died (os._exit, a crash, or it was killed)"
        except Exception as error:  # any other client failure: to us the kernel is gone
            return "died", shorten(
                f"the kernel stopped answering ({type(error).__name__})", ERROR_DETAIL_CHARS
            )
        if index in self.client.errors:
            return "error", self.client.errors[index]
        return "ok", ""

    def _recover_from_timeout(self) -> tuple[str, str]:
        limit = f"{self.timeout:g} s"
        if self.remaining() <= 0:
            return "timeout", "the notebook's total time limit was reached"
        try:
            run_sync(self.client.km.interrupt_kernel)()  # the manager's methods are async
            if self._answers_within(min(self.limits.interrupt_grace, self.remaining())):
                # nbclient may leave the timed-out cell's IOPub reader running; a fresh client
                # (new sockets) makes sure it cannot swallow the next cell's messages
                self.client.kc.stop_channels()
                self.client.start_new_kernel_client()
                return "timeout", f"timed out after {limit} (interrupted)"
        except Exception:  # e.g. the interrupt itself failed: same remedy as no answer
            pass
        kill_process_group(self.process_group)
        return "died", f"timed out after {limit} and ignored the interrupt; kernel killed"

    def _answers_within(self, seconds: float) -> bool:
        """Send a no-op request; True when the kernel replies within ``seconds``."""
        kernel_client = self.client.kc
        request = kernel_client.execute("pass", store_history=False, silent=True)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = run_sync(kernel_client.get_shell_msg)(timeout=left)
            except queue.Empty:
                return False
            if reply["parent_header"].get("msg_id") == request:
                return True
        return False

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a dead kernel may fail to shut down politely
            self.client._cleanup_kernel()
        kill_process_group(self.process_group)


def run_notebook(notebook: Any, limits: RunLimits) -> NotebookRun:
    """Execute a copy of ``notebook``'s code cells under ``limits``; never raises, never hangs."""
    notebook = nbformat.from_dict(
        notebook
    )  # a private copy: outputs land here, not in the caller's
    code = [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and cell.source.strip()
    ]
    run = NotebookRun(cells={i: CellRun(i) for i in code})
    deadline = time.monotonic() + limits.total_timeout
    position = 0
    with tempfile.TemporaryDirectory(prefix="gradlab-grade-") as folder:
        while position < len(code) and not run.error:
            session = None
            watchdog = None
            try:
                session = _KernelSession(notebook, limits, folder, deadline)
                run.kernel_process_groups.append(session.process_group)
                watchdog = threading.Timer(
                    max(0.0, session.remaining()), kill_process_group, [session.process_group]
                )
                watchdog.daemon = True
                watchdog.start()
                position = _run_cells(session, notebook, code, position, run)
            except Exception as error:  # e.g. the kernel did not start in time
                if time.monotonic() >= deadline:  # the watchdog killed it while it started
                    run.error = "the notebook's total time limit was reached"
                else:
                    run.error = shorten(
                        f"could not start a kernel: {type(error).__name__}: {error}",
                        ERROR_DETAIL_CHARS,
                    )
            finally:
                if watchdog is not None:
                    watchdog.cancel()
                if session is not None:
                    session.close()
            if position < len(code) and not run.error:
                if session is None or session.remaining() <= 0:
                    run.error = "the notebook's total time limit was reached"
                elif run.restarts >= limits.max_restarts:
                    run.error = f"the kernel died {run.restarts + 1} times; stopped"
                else:
                    run.restarts += 1
    for index in code[position:]:
        cell_run = run.cells[index]
        if cell_run.status == "not_run" and run.error:
            cell_run.detail = run.error
    return run


def _run_cells(
    session: _KernelSession, notebook: Any, code: list[int], position: int, run: NotebookRun
) -> int:
    """Replay the cells that ran before (after a restart), then run on; returns the next position."""
    session.client.recording = False
    for index in code[:position]:
        if run.cells[index].status in ("ok", "error"):
            status, _ = session.run(notebook.cells[index], index)
            if status == "died" or session.remaining() <= 0:
                return position  # could not restore the state; the caller decides what next
    session.client.recording = True
    while position < len(code):
        index = code[position]
        if session.remaining() <= 0:
            return position
        status, detail = session.run(notebook.cells[index], index)
        cell_run = run.cells[index]
        cell_run.status, cell_run.detail = status, detail
        cell_run.results = list(session.client.results.get(index, []))
        cell_run.truncated = index in session.client.truncated
        position += 1
        if status == "died":
            return position
    return position
