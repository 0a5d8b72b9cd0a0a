"""Exercise checks, the whole-notebook grader, solutions → exercises, and the notebook's grade cell.

Stands alone: imports nothing of gradlab outside grading/ and no torch at module level, so
`python -m gradlab.grade` starts fast. The instant checks an exercise notebook calls are importable
from here (``from gradlab.grading import check_close``), as they were before grading/ was a package.
"""

from gradlab.grading.checks import (
    CheckResult,
    check_close,
    check_equal,
    check_shape,
    check_type,
)

__all__ = ["CheckResult", "check_close", "check_equal", "check_shape", "check_type"]
