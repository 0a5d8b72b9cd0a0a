"""Shared pytest configuration for tests/."""

import pytest
import torch

# Notebooks under tests/fixtures are inputs to the grading tests, not lessons: nbval must not run them.
collect_ignore_glob = ["fixtures/*"]


@pytest.fixture(scope="module")
def one_thread():
    """Run a test module's tiny networks on one thread, as the chapters do; restore afterwards.

    Module-scoped so that module-scoped fixtures computing a chapter's numbers see it too. Use it
    with `pytestmark = pytest.mark.usefixtures("one_thread")`.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
