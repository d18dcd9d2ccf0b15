"""Figures of the whole run: how many AWS calls the local clouds' emulators authorised, and denied, under IAM. Under
pytest-xdist (`make test` runs the local-cloud tiers three files at a time) each worker hands its clouds' figures to
the controller, which prints the sum."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.cloud.launch import STOPPED_DECISIONS


def pytest_sessionfinish(session: pytest.Session) -> None:
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # an xdist worker
        worker_output["stopped_decisions"] = json.dumps(STOPPED_DECISIONS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:  # xdist's controller, as each worker ends
    STOPPED_DECISIONS.extend(json.loads(getattr(node, "workeroutput", {}).get("stopped_decisions", "[]")))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not STOPPED_DECISIONS:
        return
    enforced = [decisions for decisions in STOPPED_DECISIONS if decisions.get("enforced")]
    authorised = sum(int(decisions["authorised"]) for decisions in enforced)
    denied = sum(int(decisions["denied"]) for decisions in enforced)
    terminalreporter.section("IAM enforcement")
    terminalreporter.write_line(
        f"{len(enforced)} of {len(STOPPED_DECISIONS)} local clouds enforced IAM: "
        f"{authorised} AWS calls authorised, {denied} denied"
    )
