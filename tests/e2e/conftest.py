"""One local cloud for the whole e2e session, started as a user would start it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.cloud import RunningCloud, start_cloud


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("local-cloud"))
    yield running
    code = running.stop()
    assert code == 0, f"`tasktrail up` exited {code} on Ctrl-C:\n{running.log()[-3000:]}"


@pytest.fixture(scope="session")
def base_visibility(cloud: RunningCloud) -> int:
    """The processing queue's visibility timeout, read from the emulator: the base of the backoff."""
    sqs = cloud.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=cloud.outputs["processingQueueUrl"], AttributeNames=["All"])
    return int(attributes["Attributes"]["VisibilityTimeout"])
