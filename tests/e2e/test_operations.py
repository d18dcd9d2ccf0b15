"""The operator's story against the local cloud, as a new user would tell it: tasks succeed, retry and dead-letter;
the dead-lettered ones are listed (CLI and HTTP), redriven once the cause is "fixed", and their histories show the
second life ending in SUCCEEDED; a task whose bug is not fixed dead-letters again in its second life."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

from tests.e2e.cloud import PROJECT_DIR, TASKTRAIL, RunningCloud

DEAD_TIMEOUT = 90


def _id(prefix: str) -> str:
    return f"ops-{prefix}-{uuid.uuid4().hex[:10]}"


def ops(cloud: RunningCloud, *argv: str) -> subprocess.CompletedProcess[str]:
    """`tasktrail <argv>` against this cloud (its state dir says where its outputs are)."""
    return subprocess.run(  # noqa: S603 - our own CLI
        [TASKTRAIL, *argv, "--state-dir", str(cloud.state_dir)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ops_json(cloud: RunningCloud, *argv: str) -> Any:
    done = ops(cloud, *argv, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def listed(cloud: RunningCloud, **query: str) -> dict[str, Any]:
    response = cloud.http.get(f"{cloud.api_url}/tasks", params=query, headers=cloud.headers, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def redrive(cloud: RunningCloud, task_id: str) -> Any:
    return cloud.http.post(f"{cloud.api_url}/tasks/{task_id}/redrive", headers=cloud.headers, timeout=30)


def test_list_redrive_and_the_second_life(cloud: RunningCloud) -> None:
    ok, once = _id("ok"), _id("once")
    fixed_cli, fixed_http, broken = _id("fixed-cli"), _id("fixed-http"), _id("broken")
    for task_id, payload in [
        (ok, {}),
        (once, {"simulate": "fail-once"}),
        (fixed_cli, {"simulate": "fail-until-redriven"}),
        (fixed_http, {"simulate": "fail-until-redriven"}),
        (broken, {"simulate": "fail"}),
    ]:
        assert cloud.post_task(task_id, payload).status_code == 202
    for task_id in (fixed_cli, fixed_http, broken):
        cloud.wait_for_status(task_id, {"DEAD_LETTERED"}, timeout=DEAD_TIMEOUT)
    cloud.wait_for_status(ok, {"SUCCEEDED"})
    cloud.wait_for_status(once, {"SUCCEEDED"})

    # Which tasks failed: the CLI and the API agree, newest first, and hold no task that is not dead-lettered.
    page = ops_json(cloud, "list", "--status", "DEAD_LETTERED", "--since", "1h", "--limit", "100")
    dead = [task["taskId"] for task in page["tasks"]]
    assert {fixed_cli, fixed_http, broken} <= set(dead) and not {ok, once} & set(dead)
    assert all(task["status"] == "DEAD_LETTERED" for task in page["tasks"])
    assert [t["statusAt"] for t in page["tasks"]] == sorted((t["statusAt"] for t in page["tasks"]), reverse=True)
    assert [t["taskId"] for t in listed(cloud, status="DEAD_LETTERED", since="1h", limit="100")["tasks"]] == dead
    first = listed(cloud, status="DEAD_LETTERED", since="1h", limit="1")
    second = listed(cloud, status="DEAD_LETTERED", limit="1", cursor=first["nextCursor"])
    assert [t["taskId"] for t in first["tasks"] + second["tasks"]] == dead[:2]

    # Only a dead-lettered task is redriven; named twice, it is redriven once.
    assert redrive(cloud, ok).status_code == 409
    assert redrive(cloud, _id("nobody")).status_code == 404
    result = ops_json(cloud, "redrive", fixed_cli, fixed_cli, broken)
    assert sorted(task["taskId"] for task in result["redriven"]) == sorted([fixed_cli, broken])
    assert result["skipped"] == []
    response = redrive(cloud, fixed_http)
    assert response.status_code == 202, response.text
    assert (response.json()["status"], response.json()["life"]) == ("QUEUED", 1)
    assert redrive(cloud, fixed_http).status_code == 409  # already redriven: not dead-lettered any more

    # The "fixed" tasks end their second life SUCCEEDED; the broken one dead-letters again, in life 1.
    for task_id in (fixed_cli, fixed_http):
        history = cloud.wait_for_status(task_id, {"SUCCEEDED"})
        assert history["life"] == 1
        assert [(e["type"], e["life"]) for e in history["events"] if e["life"] == 1] == [
            ("REDRIVEN", 1),
            ("SUCCEEDED", 1),
        ]
        assert [e["type"] for e in history["events"]].count("DEAD_LETTERED") == 1
    again = cloud.wait_for_status(broken, {"DEAD_LETTERED"}, timeout=DEAD_TIMEOUT)
    second_life = [e["type"] for e in again["events"] if e["life"] == 1]
    assert second_life[0] == "REDRIVEN" and second_life[-2:] == ["DEAD_LETTERED", "CLEANED_UP"]
    assert "RETRY_SCHEDULED" in second_life

    # The readable timeline shows both lives.
    text = ops(cloud, "history", fixed_cli)
    assert text.returncode == 0, text.stderr
    assert "life 0 (first)" in text.stdout and "life 1 (redriven)" in text.stdout
    assert text.stdout.splitlines()[0] == f"task {fixed_cli}: SUCCEEDED (life 1, 1 attempt in it)"
    assert "requestedBy cli (" in text.stdout

    now_dead = {t["taskId"] for t in listed(cloud, status="DEAD_LETTERED", since="1h", limit="100")["tasks"]}
    assert broken in now_dead and not {fixed_cli, fixed_http} & now_dead
    succeeded = {t["taskId"] for t in listed(cloud, status="SUCCEEDED", since="1h", limit="100")["tasks"]}
    assert {fixed_cli, fixed_http, ok, once} <= succeeded


def test_the_openapi_document_and_swagger_ui_are_served(cloud: RunningCloud) -> None:
    document = cloud.http.get(f"{cloud.api_url}/swagger", params={"format": "json"}, headers=cloud.headers).json()
    assert {"/tasks", "/tasks/{taskId}", "/tasks/{taskId}/redrive", "/tasks/{taskId}/proof"} == set(document["paths"])
    # Behind the key like the rest of the API...
    assert cloud.http.get(f"{cloud.api_url}/swagger", timeout=30).status_code == 403
    # ...and on the local cloud's own /swagger, where the page is pre-authorised with the stack's key.
    root = cloud.api_url.removesuffix("/api/v1")
    page = cloud.http.get(f"{root}/swagger", timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "SwaggerUIBundle" in page.text and "preauthorizeApiKey" in page.text
    assert "unpkg.com" not in page.text and "cdn." not in page.text  # assets inlined: works offline
    assert cloud.http.get(f"{root}/swagger?format=json", timeout=30).json() == document
