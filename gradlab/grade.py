"""`python -m gradlab.grade`: runs the whole-notebook grader, gradlab.grading.grade.

An entry point only: importing gradlab.grade loads nothing, so the library does not depend on the
grader; under `python -m` it runs gradlab.grading.grade as the main module.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("gradlab.grading.grade", run_name="__main__", alter_sys=True)
