"""The security suite's tally: every test marked ``attack`` is one model-written attack.

An attack counts as contained when its test passes (the test asserts the
attack failed and was reported back to the model); the count is printed at
the end of every run that collected any.
"""

from __future__ import annotations

import pytest

_tally = {"tried": 0, "contained": 0}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and item.get_closest_marker("attack"):
        _tally["tried"] += 1
        _tally["contained"] += report.passed


def pytest_terminal_summary(terminalreporter):
    if _tally["tried"]:
        terminalreporter.write_line(
            f"security suite: {_tally['tried']} model-written attacks tried, {_tally['contained']} contained"
        )
