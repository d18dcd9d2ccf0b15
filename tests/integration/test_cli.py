"""The operator commands of `tasktrail` on moto, in process: the same logic as the API, text and JSON out."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.__main__ import main
from local.ops.target import TargetError, resolve, stack_outputs
from tests.integration.conftest import TABLE, Cloud
from tests.integration.test_operations import dead_letter, run_once, submit


@pytest.fixture(autouse=True)
def restored_environment() -> Iterator[None]:
    """The commands point the handlers' clients at their target through the environment; undo it after."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def cli(cloud: Cloud, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what the handlers printed before (their EMF metrics) is not the command's output
    code = main([*argv, "--table", TABLE, "--queue-url", cloud.queue_url, "--region", "us-east-1"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli_json(cloud: Cloud, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = cli(cloud, capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_history_prints_a_timeline_with_attempts_timeouts_and_errors(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(cloud, "hist")
    code, out, _ = cli(cloud, capsys, "history", "hist")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "task hist: DEAD_LETTERED (life 0, 2 attempts in it)"
    retries = [line for line in lines if "RETRY_SCHEDULED" in line]
    assert len(retries) == 2
    assert retries[0].split()[4:6] == ["1", "30s"] and retries[1].split()[4:6] == ["2", "60s"]
    assert "SimulatedFailureError" in retries[0]
    assert any(" DEAD_LETTERED " in line for line in lines)
    # --json is the API's own document
    assert cli_json(cloud, capsys, "history", "hist") == cloud.get("hist")[1]


def test_history_of_an_unknown_task_fails(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(cloud, capsys, "history", "nobody")
    assert (code, out) == (1, "")
    assert "no task 'nobody'" in err


def test_list_shows_only_tasks_in_that_state_now(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    submit(cloud, "fine")
    run_once(cloud)
    dead_letter(cloud, "gone-1")
    dead_letter(cloud, "gone-2")
    page = cli_json(cloud, capsys, "list", "--status", "DEAD_LETTERED", "--since", "1h")
    assert [task["taskId"] for task in page["tasks"]] == ["gone-2", "gone-1"]
    assert page["nextCursor"] is None
    code, out, _ = cli(cloud, capsys, "list", "--status", "DEAD_LETTERED", "--limit", "1")
    assert code == 0 and out.splitlines()[1].startswith("gone-2 ") and "--cursor " in out
    everything = cli_json(cloud, capsys, "list", "--limit", "1", "--all")
    assert [task["taskId"] for task in everything["tasks"]] == ["gone-2", "gone-1", "fine"]


def test_redrive_named_twice_redrives_once_and_reports_the_rest(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(cloud, "bug")
    submit(cloud, "alive")
    code, out, _ = cli(cloud, capsys, "redrive", "bug", "bug", "alive", "ghost", "--json")
    result = json.loads(out)
    assert code == 1  # not every named task could be redriven
    assert [(task["taskId"], task["life"]) for task in result["redriven"]] == [("bug", 1)]
    assert [(task["taskId"], task["reason"]) for task in result["skipped"]] == [
        ("alive", "TaskNotDeadLettered"),
        ("ghost", "TaskNotFound"),
    ]
    assert cloud.types("bug").count("REDRIVEN") == 1
    bodies = [json.loads(message["Body"]) for message in cloud.receive()]
    assert sorted((body["taskId"], body["life"]) for body in bodies) == [("alive", 0), ("bug", 1)]


def test_redrive_by_status_then_history_shows_the_second_life_succeeded(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(cloud, "fixed-1")
    dead_letter(cloud, "fixed-2")
    submit(cloud, "ok")
    run_once(cloud)
    assert cli(cloud, capsys, "redrive", "--status", "DEAD_LETTERED", "--since", "1h", "--dry-run")[1].split("\n") == [
        "would redrive fixed-2",
        "would redrive fixed-1",
        "",
    ]
    assert cloud.types("fixed-1").count("REDRIVEN") == 0  # a dry run writes nothing

    code, out, _ = cli(cloud, capsys, "redrive", "--status", "DEAD_LETTERED", "--since", "1h")
    assert code == 0 and out.splitlines()[-1] == "2 redriven, 0 skipped"
    run_once(cloud)  # fail-until-redriven: the bug is "fixed" in life 1

    history = cli_json(cloud, capsys, "history", "fixed-1")
    assert history["status"] == "SUCCEEDED" and history["life"] == 1
    assert [(e["type"], e["life"]) for e in history["events"] if e["life"] == 1] == [
        ("REDRIVEN", 1),
        ("SUCCEEDED", 1),
    ]
    assert history["events"][-2]["requestedBy"].startswith("cli (")
    assert cli_json(cloud, capsys, "list", "--status", "DEAD_LETTERED")["tasks"] == []
    # Nothing left to redrive: a second run is a no-op, not an error.
    assert cli(cloud, capsys, "redrive", "--status", "DEAD_LETTERED")[0:2] == (0, "0 redriven, 0 skipped\n")


def test_redrive_needs_tasks_or_a_status(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(cloud, capsys, "redrive")
    assert code == 1 and "name the tasks" in err


def test_the_local_stack_is_the_default_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--state-dir", str(tmp_path)]) == 1
    assert "no local stack is running" in capsys.readouterr().err
    (tmp_path / "outputs.json").write_text(
        json.dumps(
            {
                "auditTableName": "t",
                "processingQueueUrl": "http://127.0.0.1:4566/123456789012/q",
                "awsEndpoint": "http://127.0.0.1:4566",
                "region": "eu-west-1",
            }
        )
    )
    args = _args(state_dir=str(tmp_path))
    target = resolve(args, tmp_path)
    assert (target.table, target.endpoint_url, target.region) == ("t", "http://127.0.0.1:4566", "eu-west-1")
    override = resolve(_args(table="other", endpoint_url="http://127.0.0.1:9"), tmp_path)
    assert (override.table, override.endpoint_url, override.queue_url) == ("other", "http://127.0.0.1:9", None)


def test_a_deployed_stack_is_read_with_pulumi_stack_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "pulumi"
    fake.write_text(
        "#!/bin/sh\n"
        'echo "$@" > "$(dirname "$0")/argv"\n'
        'echo \'{"auditTableName": "tasktrail-prod-audit", "processingQueueUrl": "https://sqs/q",'
        ' "region": "eu-west-3"}\'\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    target = resolve(_args(stack="prod"), tmp_path / "no-local")
    assert (tmp_path / "argv").read_text().split() == ["stack", "output", "--json", "--stack", "prod"]
    assert (target.table, target.queue_url, target.region, target.endpoint_url) == (
        "tasktrail-prod-audit",
        "https://sqs/q",
        "eu-west-3",
        None,
    )
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(TargetError, match="pulumi CLI is not on PATH"):
        stack_outputs("prod")


def _args(**values: Any) -> Any:
    import argparse

    defaults = dict.fromkeys(("stack", "table", "queue_url", "endpoint_url", "region", "state_dir"))
    return argparse.Namespace(**{**defaults, **values})
