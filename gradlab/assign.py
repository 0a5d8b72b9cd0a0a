"""`python -m gradlab.assign`: regenerates exercises/ from solutions/ (gradlab.grading.assign).

An entry point only: importing gradlab.assign loads nothing, so the library does not depend on the
grading tools; under `python -m` it runs gradlab.grading.assign as the main module.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("gradlab.grading.assign", run_name="__main__", alter_sys=True)
