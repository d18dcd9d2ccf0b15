"""The topology comes from the program: another maxReceiveCount in the local stack's config changes what happens."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cloud import RunningCloud, start_cloud


@pytest.fixture(scope="module")
def cloud_with_three_receives(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(Path(tmp_path_factory.mktemp("override")), "--config", "maxReceiveCount=3")
    yield running
    running.stop()


def test_max_receive_count_override_reaches_queue_function_and_behaviour(
    cloud_with_three_receives: RunningCloud,
) -> None:
    cloud = cloud_with_three_receives
    sqs = cloud.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=cloud.outputs["processingQueueUrl"], AttributeNames=["All"])
    assert json.loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"] == 3
    base = int(attributes["Attributes"]["VisibilityTimeout"])

    task_id = f"three-{uuid.uuid4().hex[:10]}"
    assert cloud.post_task(task_id, {"simulate": "fail"}).status_code == 202
    history = cloud.wait_for_status(task_id, {"DEAD_LETTERED"}, timeout=120)
    dead = next(e for e in history["events"] if e["type"] == "DEAD_LETTERED")
    assert dead["attempts"] == 3
    retries = [e for e in history["events"] if e["type"] == "RETRY_SCHEDULED"]
    assert [r["visibilityTimeout"] for r in retries] == [r["attempt"] * base for r in retries]
    assert max(r["attempt"] for r in retries) >= 2


def test_ctrl_c_drains_and_exits_zero(cloud_with_three_receives: RunningCloud) -> None:
    cloud = cloud_with_three_receives
    for i in range(5):
        assert cloud.post_task(f"drain-{uuid.uuid4().hex[:8]}-{i}", {"i": i}).status_code == 202
    assert cloud.stop() == 0
    log = cloud.log()
    assert "stopping: draining in-flight batches" in log
    assert "INFO    stopped" in log or "stopped\n" in log
    assert not (cloud.state_dir / "outputs.json").exists()
