"""The HTTP contract's edges: duplicates, conflicts, bad input, auth and unknown routes, shaped as API Gateway."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid

import pytest
import requests

from tests.e2e.cloud import RunningCloud


def _task_id() -> str:
    return f"api-{uuid.uuid4().hex[:12]}"


def test_duplicate_post_is_idempotent(cloud: RunningCloud) -> None:
    task_id = _task_id()
    first = cloud.post_task(task_id, {"a": 1})
    second = cloud.post_task(task_id, {"a": 1})
    assert first.status_code == 202
    assert second.status_code in {200, 202}
    assert second.json() == first.json()

    history = cloud.wait_for_status(task_id, {"SUCCEEDED"})
    types = [e["type"] for e in history["events"]]
    assert types.count("RECEIVED") == 1
    assert types.count("SUCCEEDED") == 1


def test_conflicting_post_is_409(cloud: RunningCloud) -> None:
    task_id = _task_id()
    assert cloud.post_task(task_id, {"a": 1}).status_code == 202
    conflict = cloud.post_task(task_id, {"a": 2})
    assert conflict.status_code == 409, conflict.text
    assert conflict.headers["content-type"].startswith("application/json")


def _post_raw(cloud: RunningCloud, body: bytes, content_type: str = "application/json") -> requests.Response:
    headers = {**cloud.headers, "content-type": content_type}
    return cloud.http.post(f"{cloud.api_url}/tasks", data=body, headers=headers, timeout=30)


BAD_BODIES = {
    "malformed json": b'{"taskId": "x", "payload": {',
    "not an object": b'["taskId"]',
    "missing taskId": b'{"payload": {}}',
    "missing payload": b'{"taskId": "bad-missing-payload"}',
    "payload not an object": b'{"taskId": "bad-payload-type", "payload": [1]}',
    "taskId float": b'{"taskId": 1.5, "payload": {}}',
    "taskId negative": b'{"taskId": -1, "payload": {}}',
    "taskId bad chars": b'{"taskId": "a b/c", "payload": {}}',
    "taskId too long": b'{"taskId": "' + b"x" * 129 + b'", "payload": {}}',
    "taskId empty": b'{"taskId": "", "payload": {}}',
    "taskId boolean": b'{"taskId": true, "payload": {}}',
    "unknown field": b'{"taskId": "bad-unknown-field", "payload": {}, "extra": 1}',
}


@pytest.mark.parametrize("body", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_bad_input_is_4xx_and_records_nothing(cloud: RunningCloud, body: bytes) -> None:
    response = _post_raw(cloud, body)
    assert response.status_code in {400, 422}, response.text
    assert response.json()
    for task_id in ("bad-missing-payload", "bad-payload-type", "bad-unknown-field"):
        assert cloud.get_task(task_id).status_code == 404


def test_oversized_body_is_413(cloud: RunningCloud) -> None:
    body = b'{"taskId": "too-big", "payload": {"blob": "' + b"x" * (256 * 1024) + b'"}}'
    assert _post_raw(cloud, body).status_code == 413
    assert cloud.get_task("too-big").status_code == 404


def test_a_content_type_of_another_format_is_415(cloud: RunningCloud) -> None:
    response = _post_raw(cloud, b'{"taskId": "as-xml", "payload": {}}', content_type="application/xml")
    assert response.status_code == 415
    assert cloud.get_task("as-xml").status_code == 404


def test_the_seeds_own_curl_call_is_accepted(cloud: RunningCloud) -> None:
    # The seed documents `curl -X POST URL/api/v1/tasks -d '{"taskId":1,"payload":{"someProperty":"test"}}'`: curl -d
    # sends Content-Type: application/x-www-form-urlencoded. Sent here by curl itself, with the stack's key.
    task_id = int(time.time() * 1000)
    body = json.dumps({"taskId": task_id, "payload": {"someProperty": "test"}}, separators=(",", ":"))
    curl = shutil.which("curl")
    if curl is None:  # what curl -d sends, by hand
        headers = {**cloud.headers, "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "curl/8"}
        response = requests.post(f"{cloud.api_url}/tasks", data=body, headers=headers, timeout=60)
        answer, status = response.text, str(response.status_code)
    else:
        key = [arg for name, value in cloud.headers.items() for arg in ("-H", f"{name}: {value}")]
        done = subprocess.run(  # noqa: S603 - curl, argv built here
            [curl, "-sS", "-X", "POST", f"{cloud.api_url}/tasks", *key, "-d", body, "-w", "\n%{http_code}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        answer, status = done.stdout.rsplit("\n", 1)
    assert status == "202", answer
    assert json.loads(answer)["taskId"] == str(task_id)
    assert cloud.wait_for_status(str(task_id), {"SUCCEEDED"})["status"] == "SUCCEEDED"


def test_unknown_task_is_404(cloud: RunningCloud) -> None:
    response = cloud.get_task(f"never-{uuid.uuid4().hex}")
    assert response.status_code == 404
    assert response.json()


def test_missing_or_wrong_api_key_is_403_like_api_gateway(cloud: RunningCloud) -> None:
    assert cloud.outputs.get("apiKey"), "the local stack publishes its API key"
    url = f"{cloud.api_url}/tasks"
    for headers in ({}, {"x-api-key": "not-the-key"}):
        post = requests.post(url, json={"taskId": "no-key", "payload": {}}, headers=headers, timeout=30)
        assert post.status_code == 403
        assert post.json() == {"message": "Forbidden"}
        get = requests.get(f"{url}/no-key", headers=headers, timeout=30)
        assert get.status_code == 403
    assert cloud.get_task("no-key").status_code == 404


def test_unknown_route_or_method_is_missing_authentication_token(cloud: RunningCloud) -> None:
    base = cloud.api_url
    for method, url in (("GET", f"{base}/nowhere"), ("DELETE", f"{base}/tasks"), ("GET", f"{base}/tasks/a/b")):
        response = requests.request(method, url, headers=cloud.headers, timeout=30)
        assert response.status_code == 403
        assert response.json() == {"message": "Missing Authentication Token"}


def test_outputs_command_prints_the_running_stack(cloud: RunningCloud) -> None:
    import json
    import subprocess

    from tests.e2e.cloud import PROJECT_DIR, TASKTRAIL

    result = subprocess.run(  # noqa: S603 - our own CLI
        [TASKTRAIL, "outputs", "--state-dir", str(cloud.state_dir)],
        cwd=PROJECT_DIR,
        capture_output=True,
        timeout=60,
        check=True,
    )
    outputs = json.loads(result.stdout)
    assert outputs == cloud.outputs
    for key in (
        "apiUrl",
        "auditTableName",
        "processingQueueUrl",
        "deadLetterQueueUrl",
        "gatewayFunctionName",
        "processingFunctionName",
        "dlqFunctionName",
        "awsEndpoint",
        "region",
        "apiKey",
    ):
        assert outputs.get(key), key
    assert outputs["apiUrl"].startswith("http://127.0.0.1:")
    assert outputs["apiUrl"].endswith("/api/v1")
