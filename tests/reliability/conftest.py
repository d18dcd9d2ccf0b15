"""The reliability tier: every test here is marked `reliability`; the ones that run a local cloud also `slow`.

Sizes come from TASKTRAIL_SOAK_TASKS (`make soak` sets 2000); figures are printed at the end of the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cloud import RunningCloud, start_cloud

SOAK_TASKS_ENV = "TASKTRAIL_SOAK_TASKS"
DEFAULT_TASKS = 300
_FIGURES: list[str] = []


def load_size() -> int:
    """How many tasks the load scenario submits: a few hundred in `make test`, 2,000 in `make soak`."""
    return int(os.environ.get(SOAK_TASKS_ENV) or DEFAULT_TASKS)


def report(line: str) -> None:
    """A figure for the end-of-run summary (throughput, timings, counts)."""
    _FIGURES.append(line)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: runs a local cloud or a long scenario (select with -m slow)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.reliability)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("reliability figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    """One local cloud (`tasktrail up`) for the load, hostile-input and route-auth scenarios."""
    running = start_cloud(tmp_path_factory.mktemp("reliability-cloud"))
    yield running
    running.stop()
