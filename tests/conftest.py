"""Shared pytest configuration for tests/."""

# Notebooks under tests/fixtures are inputs to the grading tests, not lessons: nbval must not run them.
collect_ignore_glob = ["fixtures/*"]
