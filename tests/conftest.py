"""Figures of the whole run: how many AWS calls the local clouds' emulators authorised, and denied, under IAM."""

from __future__ import annotations

import pytest

from local.cloud.launch import STOPPED_DECISIONS


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
