"""Operators' routes on moto: listing by current status from the index (paged), redrive, and the OpenAPI document."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from typing import Any

import pytest

from handlers.dal import clients, schema
from handlers.dal.keys import status_shard
from handlers.dal.schema import TERMINAL_SLOT
from handlers.logic.listing import list_tasks
from handlers.logic.redrive import redrive_task
from handlers.models.events import AuditEvent, EventType, TaskStatus
from handlers.models.output import TaskPage, TaskSummary
from tests.integration.aws_events import api_event
from tests.integration.conftest import MAX_RECEIVE_COUNT, Cloud


def list_event(**query: str) -> dict[str, Any]:
    event = api_event("GET", "/api/v1/tasks", content_type=None)
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()} or None
    return event


def redrive_event(task_id: str) -> dict[str, Any]:
    return api_event(
        "POST",
        f"/api/v1/tasks/{task_id}/redrive",
        content_type=None,
        resource="/api/v1/tasks/{taskId}/redrive",
        path_parameters={"taskId": task_id},
    )


def submit(cloud: Cloud, task_id: str, payload: dict[str, Any] | None = None) -> None:
    assert cloud.post({"taskId": task_id, "payload": payload or {}})[0] == 202


def run_once(cloud: Cloud) -> None:
    """One processing pass over whatever is visible."""
    messages = cloud.receive()
    if messages:
        cloud.process(messages)


def dead_letter(cloud: Cloud, task_id: str, simulate: str = "fail-until-redriven") -> None:
    """Submit a task that fails, take it through every receive, the DLQ move and the dlq function."""
    submit(cloud, task_id, {"simulate": simulate})
    for _ in range(MAX_RECEIVE_COUNT):
        [message] = cloud.receive()
        cloud.process([message])
        cloud.fast_forward(message)
    assert cloud.receive() == []  # moved to the DLQ by the redrive policy
    assert cloud.drain_dlq() == {"batchItemFailures": []}
    assert cloud.get(task_id)[1]["status"] == "DEAD_LETTERED"


def _cursor(**state: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


def pages_after(cloud: Cloud, page: TaskPage) -> list[TaskSummary]:
    """The tasks of every page after `page`, following its cursor (a listing of any status, a task a page)."""
    tasks: list[TaskSummary] = []
    while page.nextCursor:
        page = list_tasks(cloud.store, None, None, 1, page.nextCursor)
        tasks += page.tasks
    return tasks


def listed(cloud: Cloud, **query: str) -> tuple[int, dict[str, Any]]:
    return cloud.invoke_gateway(list_event(**query))


def test_list_shows_each_task_once_under_its_current_status_newest_first(cloud: Cloud) -> None:
    submit(cloud, "ok-1")
    run_once(cloud)
    dead_letter(cloud, "dead-1")
    submit(cloud, "retrying-1", {"simulate": "fail"})
    [message] = cloud.receive()
    cloud.process([message])
    submit(cloud, "queued-1")

    assert listed(cloud, status="DEAD_LETTERED")[1]["tasks"][0]["taskId"] == "dead-1"
    status, page = listed(cloud, status="DEAD_LETTERED")
    assert status == 200
    [dead] = page["tasks"]
    assert dead["status"] == "DEAD_LETTERED" and dead["attempts"] == MAX_RECEIVE_COUNT and dead["life"] == 0
    assert "SimulatedFailureError" in dead["lastError"]
    assert page["nextCursor"] is None
    assert [t["taskId"] for t in listed(cloud, status="SUCCEEDED")[1]["tasks"]] == ["ok-1"]
    assert [t["taskId"] for t in listed(cloud, status="RETRYING")[1]["tasks"]] == ["retrying-1"]
    assert [t["taskId"] for t in listed(cloud, status="QUEUED")[1]["tasks"]] == ["queued-1"]
    # Without a status: every task once, newest status change first.
    everything = [t["taskId"] for t in listed(cloud)[1]["tasks"]]
    assert everything == ["queued-1", "retrying-1", "dead-1", "ok-1"]


def test_a_redriven_task_leaves_the_dead_lettered_list(cloud: Cloud) -> None:
    dead_letter(cloud, "moved-on")
    # Its RETRY_SCHEDULED and DEAD_LETTERED entries stay in the index; only the current one counts.
    assert [t["taskId"] for t in listed(cloud, status="DEAD_LETTERED")[1]["tasks"]] == ["moved-on"]
    assert listed(cloud, status="RETRYING")[1]["tasks"] == []

    assert cloud.invoke_gateway(redrive_event("moved-on"))[0] == 202

    assert listed(cloud, status="DEAD_LETTERED")[1]["tasks"] == []
    [queued] = listed(cloud, status="QUEUED")[1]["tasks"]
    assert (queued["taskId"], queued["life"]) == ("moved-on", 1)


def test_pages_follow_the_cursor_without_gaps_or_repeats_across_shards(cloud: Cloud) -> None:
    ids = [f"page-{n:02d}" for n in range(23)]
    for task_id in ids:
        submit(cloud, task_id)
        time.sleep(0.002)  # distinct `at` milliseconds, so that newest-first has one right answer
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {"status": "QUEUED", "limit": "5", **({"cursor": cursor} if cursor else {})}
        status, page = listed(cloud, **query)
        assert status == 200, page
        assert len(page["tasks"]) <= 5
        seen += [t["taskId"] for t in page["tasks"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert pages == 5
    shards = {item[schema.STATUS_INDEX_PK]["S"] for item in cloud.items()}
    assert len(shards) > 1, "the test must span several shards to prove the merge"


def test_since_bounds_the_listing(cloud: Cloud) -> None:
    submit(cloud, "recent")
    assert [t["taskId"] for t in listed(cloud, status="QUEUED", since="1h")[1]["tasks"]] == ["recent"]
    assert listed(cloud, status="QUEUED", since="2999-01-01T00:00:00Z")[1]["tasks"] == []


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"status": "LOST"}, 422),
        ({"limit": "0"}, 422),
        ({"limit": "101"}, 422),
        ({"since": "yesterday"}, 400),
        ({"cursor": "not-a-cursor"}, 400),
        # Well-formed JSON of the wrong shapes: a moment that is not text, a position of the wrong length.
        ({"cursor": _cursor(v=2, status=None, since=None, until=5, last=None, done=[])}, 400),
        ({"cursor": _cursor(v=2, status=None, since=None, until="2026-12-02T00:00:00.000Z", last=["a"], done=[])}, 400),
        ({"cursor": _cursor(v=1, status=None, since=None, after={}, done=[])}, 400),  # made before this release
    ],
)
def test_bad_listing_queries_are_4xx(cloud: Cloud, query: dict[str, str], status: int) -> None:
    code, body = listed(cloud, **query)
    assert code == status, body
    assert body["statusCode"] == status


def test_a_cursor_is_refused_for_another_status(cloud: Cloud) -> None:
    for n in range(3):
        submit(cloud, f"c-{n}")
    cursor = listed(cloud, status="QUEUED", limit="1")[1]["nextCursor"]
    assert cursor
    code, body = listed(cloud, status="SUCCEEDED", cursor=cursor)
    assert code == 400 and body["error"] == "InvalidQuery"


def test_redrive_story_fail_until_redriven_ends_succeeded_in_the_second_life(cloud: Cloud) -> None:
    dead_letter(cloud, "bug")

    status, body = cloud.invoke_gateway(redrive_event("bug"))
    assert status == 202, body
    assert (body["taskId"], body["status"], body["life"]) == ("bug", "QUEUED", 1)
    [message] = cloud.receive()
    assert json.loads(message["Body"]) == {"taskId": "bug", "payload": {"simulate": "fail-until-redriven"}, "life": 1}
    assert cloud.process([message]) == {"batchItemFailures": []}

    history = cloud.get("bug")[1]
    assert history["status"] == "SUCCEEDED" and history["life"] == 1
    second_life = [(e["type"], e["life"]) for e in history["events"] if e["life"] == 1]
    assert second_life == [("REDRIVEN", 1), ("SUCCEEDED", 1)]
    redriven = next(e for e in history["events"] if e["type"] == "REDRIVEN")
    assert redriven["requestedBy"].startswith("api (request ")
    # Once redriven (and succeeded), it is not dead-lettered any more: a second redrive is a conflict.
    status, body = cloud.invoke_gateway(redrive_event("bug"))
    assert (status, body["error"]) == (409, "TaskNotDeadLettered")


def test_redrive_refuses_unknown_and_live_tasks(cloud: Cloud) -> None:
    assert cloud.invoke_gateway(redrive_event("nobody"))[0] == 404
    submit(cloud, "running")
    status, body = cloud.invoke_gateway(redrive_event("running"))
    assert status == 409 and "QUEUED" in body["message"]
    assert cloud.receive()[0]["Body"]  # only the original send is queued
    assert cloud.queue_depth() == 1


def test_two_redrives_of_one_dead_letter_send_it_once(cloud: Cloud) -> None:
    dead_letter(cloud, "twice")
    queue_url = cloud.queue_url
    redrive_task(cloud.store, cloud.task_queue(queue_url), "twice", "test")
    with pytest.raises(Exception, match="DEAD_LETTERED"):
        redrive_task(cloud.store, cloud.task_queue(queue_url), "twice", "test")
    assert cloud.queue_depth() == 1
    assert cloud.types("twice").count("REDRIVEN") == 1


def test_a_failed_send_records_enqueue_failed_after_redriven(cloud: Cloud) -> None:
    dead_letter(cloud, "unsent")
    missing = cloud.queue_url + "-missing"
    with pytest.raises(Exception, match="could not enqueue"):
        redrive_task(cloud.store, cloud.task_queue(missing), "unsent", "test")
    assert cloud.types("unsent")[-2:] == ["REDRIVEN", "ENQUEUE_FAILED"]
    # Recoverable as any stranded task: the client re-POSTs the task and the gateway re-sends it in its new life.
    assert cloud.post({"taskId": "unsent", "payload": {"simulate": "fail-until-redriven"}})[0] == 202
    [message] = cloud.receive()
    assert json.loads(message["Body"])["life"] == 1


def test_listing_reads_the_index_never_scans(cloud: Cloud) -> None:
    operations: list[str] = []
    clients.dynamodb().meta.events.register("before-call.dynamodb.*", lambda model, **_: operations.append(model.name))
    submit(cloud, "indexed")
    operations.clear()
    assert [t.taskId for t in list_tasks(cloud.store, TaskStatus.QUEUED, None, 10).tasks] == ["indexed"]
    assert "Scan" not in operations and set(operations) == {"Query"}


def test_openapi_document_is_generated_from_the_models(cloud: Cloud) -> None:
    event = api_event("GET", "/api/v1/swagger", content_type=None)
    event["queryStringParameters"] = {"format": "json"}
    event["multiValueQueryStringParameters"] = {"format": ["json"]}
    status, document = cloud.invoke_gateway(event)
    assert status == 200
    assert set(document["paths"]) == {"/tasks", "/tasks/{taskId}", "/tasks/{taskId}/redrive", "/tasks/{taskId}/proof"}
    assert set(document["paths"]["/tasks"]) == {"get", "post"}
    schemas = document["components"]["schemas"]
    assert {"TaskSubmission", "TaskPage", "TaskSummary", "TaskRedriven", "TaskHistory", "TaskProof"} <= set(schemas)
    params = {p["name"] for p in document["paths"]["/tasks"]["get"]["parameters"]}
    assert params == {"status", "since", "limit", "cursor"}
    key = {"type": "apiKey", "name": "x-api-key", "in": "header"}
    assert document["components"]["securitySchemes"]["apiKey"] == key
    assert document["servers"][0]["url"] == "/prod/api/v1"


def test_the_openapi_models_are_not_imported_until_the_docs_are_asked_for() -> None:
    # The gateway imports its resolver on its first request: that request must not also pay for the OpenAPI models.
    code = (
        "import sys, handlers.api.routes; "
        "assert 'aws_lambda_powertools.event_handler.openapi.models' not in sys.modules; "
        "assert 'handlers.api.docs' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr


def test_a_page_cut_short_by_the_examination_bound_loses_nothing(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers.logic import listing

    monkeypatch.setattr(listing, "MAX_EXAMINED", 2)
    for n in range(3):
        dead_letter(cloud, f"moved-{n}")
        assert cloud.invoke_gateway(redrive_event(f"moved-{n}"))[0] == 202  # stale DEAD_LETTERED entries
        run_once(cloud)  # succeeds in its second life
    dead_letter(cloud, "still-dead")
    for n in range(3, 6):
        dead_letter(cloud, f"moved-{n}")
        assert cloud.invoke_gateway(redrive_event(f"moved-{n}"))[0] == 202
        run_once(cloud)
    found: list[str] = []
    pages = 0
    page = list_tasks(cloud.store, TaskStatus.DEAD_LETTERED, None, 10)
    while True:
        pages += 1
        found += [task.taskId for task in page.tasks]
        if page.nextCursor is None:
            break
        page = list_tasks(cloud.store, TaskStatus.DEAD_LETTERED, None, 10, page.nextCursor)
    assert found == ["still-dead"]
    assert pages >= 3  # 7 entries, 2 examined per request


def test_an_upper_bound_keeps_newer_tasks_out_of_every_page(cloud: Cloud) -> None:
    for n in range(3):
        submit(cloud, f"older-{n}")
    time.sleep(0.01)
    until = list_tasks(cloud.store, TaskStatus.QUEUED, None, 1).tasks[0].statusAt  # the newest of the older ones
    time.sleep(0.01)
    for n in range(3):
        submit(cloud, f"newer-{n}")
    found: list[str] = []
    page = list_tasks(cloud.store, TaskStatus.QUEUED, None, 1, until=until)
    while True:
        found += [task.taskId for task in page.tasks]
        if page.nextCursor is None:
            break
        page = list_tasks(cloud.store, TaskStatus.QUEUED, None, 1, page.nextCursor)  # the cursor carries the bound
    assert sorted(found) == ["older-0", "older-1", "older-2"]


def test_a_page_cut_short_by_its_time_budget_still_makes_progress_and_loses_nothing(cloud: Cloud) -> None:
    for n in range(4):
        dead_letter(cloud, f"slow-{n}")
    # A budget already spent: each request examines one entry (never none, or a client could loop forever).
    found: list[str] = []
    page = list_tasks(cloud.store, TaskStatus.DEAD_LETTERED, None, 10, budget_seconds=0)
    while True:
        assert len(page.tasks) <= 1
        found += [task.taskId for task in page.tasks]
        if page.nextCursor is None:
            break
        page = list_tasks(cloud.store, TaskStatus.DEAD_LETTERED, None, 10, page.nextCursor, budget_seconds=0)
    assert sorted(found) == [f"slow-{n}" for n in range(4)]


@pytest.mark.parametrize(
    ("auth", "schemes"),
    [
        ("apiKey", {"apiKey": {"type": "apiKey", "name": "x-api-key", "in": "header"}}),
        (
            "iam",
            {
                "sigv4": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                }
            },
        ),
        ("none", None),
    ],
)
def test_the_openapi_document_describes_the_stacks_own_auth(auth: str, schemes: dict[str, Any] | None) -> None:
    from handlers.api.docs import openapi_json
    from handlers.api.routes import app

    document = json.loads(openapi_json(app, auth))
    assert document.get("components", {}).get("securitySchemes") == schemes
    assert document.get("security") == ([{name: []} for name in schemes] if schemes else None)


def test_a_task_that_moves_on_while_its_listing_is_read_is_listed_once_as_of_the_listing(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handlers.logic import listing

    # The status index is read before the histories: a task that moves on in between had its old entry read and its
    # new one written too late for the page. CI saw a task just posted missing from GET /tasks this way.
    submit(cloud, "moving")
    store = cloud.store
    read_index = store.status_page
    reads: list[str] = []

    def then_process(partition: str, *args: Any, **kwargs: Any) -> Any:
        page = read_index(partition, *args, **kwargs)
        reads.append(partition)
        if len(reads) == len(listing.partitions(None)):
            run_once(cloud)  # QUEUED -> SUCCEEDED once every partition's page is read, before the history read
        return page

    monkeypatch.setattr(store, "status_page", then_process)
    [task] = list_tasks(store, None, None, 10).tasks
    assert (task.taskId, task.status) == ("moving", TaskStatus.QUEUED)  # as it was when the listing began
    [task] = list_tasks(cloud.store, None, None, 10).tasks
    assert (task.taskId, task.status) == ("moving", TaskStatus.SUCCEEDED)  # a new listing sees it now


def test_tasks_that_move_on_between_pages_are_neither_skipped_nor_repeated(cloud: Cloud) -> None:
    ids = [f"between-{n}" for n in range(4)]
    for task_id in ids:
        submit(cloud, task_id)
        time.sleep(0.002)
    first = list_tasks(cloud.store, None, None, 1)
    run_once(cloud)  # every one of them SUCCEEDED before the next pages: their new entries are newer than the cursor
    rest = pages_after(cloud, first)
    assert all(task.status is TaskStatus.QUEUED for task in rest)  # the first page's moment
    assert [task.taskId for task in first.tasks + rest] == list(reversed(ids))


def test_an_event_stamped_before_the_moment_but_stored_after_a_page_does_not_list_its_task_twice(cloud: Cloud) -> None:
    # A write in flight when a listing begins: stamped before its moment, stored after its first page. That page
    # listed the task as QUEUED; its SUCCEEDED entry, newer than where the merge stopped, must not follow. (A cursor
    # that restarted each partition from its own last entry read it, from the top of a shard with older entries.)
    late = "late-0"
    shard = status_shard(TaskStatus.SUCCEEDED, late)
    older = [f"older-{n}" for n in range(64) if status_shard(TaskStatus.SUCCEEDED, f"older-{n}") == shard]
    for task_id in older[:2]:
        submit(cloud, task_id)
    run_once(cloud)  # older entries in the shard the late SUCCEEDED goes to
    time.sleep(0.002)
    submit(cloud, late)
    first = list_tasks(cloud.store, None, None, 1)
    assert [(task.taskId, task.status) for task in first.tasks] == [(late, TaskStatus.QUEUED)]
    [queued] = cloud.store.history(late)
    cloud.store.append(AuditEvent(late, EventType.SUCCEEDED, life=0, slot=TERMINAL_SLOT, attempt=1, at=queued.at))
    assert sorted(task.taskId for task in first.tasks + pages_after(cloud, first)) == sorted([late, *older[:2]])


def test_a_since_after_the_listings_moment_is_an_empty_page_not_an_error(cloud: Cloud) -> None:
    # DynamoDB refuses a BETWEEN whose lower bound is above its upper one (a ValidationException; the emulator's patch
    # of moto too), so a `since` after the listing's moment must not reach the index.
    submit(cloud, "now")
    page = list_tasks(cloud.store, TaskStatus.QUEUED, "2999-01-01T00:00:00Z", 10)
    assert (page.tasks, page.nextCursor) == ([], None)
