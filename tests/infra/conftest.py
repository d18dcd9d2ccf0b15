"""Runs the program once per configuration under test and shares the recorded resources between tests."""

from __future__ import annotations

import pytest

from tests.infra.harness import ProgramRun, run_program


@pytest.fixture(scope="session")
def default_run() -> ProgramRun:
    """A stack with nothing set: every Pulumi.yaml default, as `pulumi up` on a fresh stack sees it."""
    return run_program("test")


@pytest.fixture(scope="session")
def local_run() -> ProgramRun:
    """The `local` stack of Pulumi.local.yaml: short timeouts, ratio check off, fault injection on."""
    return run_program("local")


@pytest.fixture(scope="session")
def tuned_run() -> ProgramRun:
    """Non-default values for every knob the tests trace through to a resource input."""
    return run_program(
        "tuned",
        {
            "maxReceiveCount": "5",
            "processingTimeout": "60",
            "processingMemory": "1024",
            "visibilityTimeout": "400",
            "batchSize": "100",
            "batchingWindow": "5",
            "maxConcurrency": "50",
            "logRetentionDays": "30",
            "apiThrottleRate": "25",
            "apiThrottleBurst": "50",
            "oldestMessageAlarmSeconds": "7200",
            "alarmTopicArn": "arn:aws:sns:eu-west-1:210987654321:oncall",
            "deletionProtection": "false",
            "faultInjection": "true",
            "logPayloads": "true",
            "logLevel": "DEBUG",
            "taskWorker": "handlers.logic.other:work",
            "manageApiGatewayAccount": "false",
        },
    )


@pytest.fixture(scope="session")
def iam_run() -> ProgramRun:
    """apiAuth=iam: SigV4 on every method, no API key."""
    return run_program("test", {"apiAuth": "iam"})


@pytest.fixture(scope="session")
def open_run() -> ProgramRun:
    """apiAuth=none, deliberately allowed."""
    return run_program("test", {"apiAuth": "none", "allowUnauthenticatedApi": "true"})
