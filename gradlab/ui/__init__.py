"""What a learner touches: controls wired to a pure compute function and a drawing (wiring, controls),
the quiz widget, the start page's self-test, and `make lab`'s launcher. May import the library and
plotting; never a chapter or the grader.
"""
