"""The `tasktrail` command as a user meets it after `make`: help for every subcommand, a one-line reason and a
non-zero exit status on every failure, completion scripts, and `tasktrail ui` serving the timeline page of the
running local stack through its proxy (the same code that serves a deployed stack's)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.cloud import TASKTRAIL, RunningCloud, free_port

SUBCOMMANDS = ("up", "outputs", "emulator", "history", "list", "redrive", "verify", "ui", "completion")


def tasktrail(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [TASKTRAIL, *argv], capture_output=True, text=True, timeout=60, check=False, cwd=cwd
    )


def test_the_command_lists_every_subcommand_and_each_has_help(tmp_path: Path) -> None:
    overview = tasktrail("--help", cwd=tmp_path)
    assert overview.returncode == 0
    for name in SUBCOMMANDS:
        assert f"\n  {name} " in overview.stdout, name
        help_text = tasktrail(name, "--help", cwd=tmp_path)
        assert help_text.returncode == 0, help_text.stderr
        assert help_text.stdout.startswith(f"usage: tasktrail {name}"), help_text.stdout[:80]


@pytest.mark.parametrize(
    ("argv", "status", "reason"),
    [
        ((), 2, "the following arguments are required: <command>"),
        (("bogus",), 2, "invalid choice: 'bogus'"),
        (("list", "--status", "LOST"), 2, "invalid choice: 'LOST'"),
        (("history", "x", "--state-dir", "/nonexistent"), 1, "no local stack is running"),
        (("list", "--stack", "prod"), 1, "pulumi"),
        (("up", "--config", "novalue", "--port", "0"), 1, "--config expects KEY=VALUE"),
    ],
)
def test_every_failure_is_one_line_and_a_non_zero_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...], status: int, reason: str
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no pulumi CLI here, as on a machine without one
    done = tasktrail(*argv, cwd=tmp_path)
    assert done.returncode == status
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tasktrail") and reason in lines[0], done.stderr


def test_completion_scripts_name_the_subcommands(tmp_path: Path) -> None:
    for shell in ("bash", "zsh"):
        script = tasktrail("completion", shell, cwd=tmp_path)
        assert script.returncode == 0 and "redrive" in script.stdout and "--stack" in script.stdout


def test_ui_serves_the_timeline_of_the_local_stack_through_its_proxy(cloud: RunningCloud) -> None:
    task_id = "ui-proxy-1"
    assert cloud.post_task(task_id, {}).status_code == 202
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [TASKTRAIL, "ui", "--port", str(port), "--state-dir", str(cloud.state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                config = requests.get(f"{base}/ui/config.json", timeout=5).json()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and process.poll() is None, "tasktrail ui did not start"
                time.sleep(0.2)
        # The page gets no key: the proxy adds the stack's own to every API call.
        assert config["apiKey"] is None and config["apiUrl"] == "/api/v1"
        assert "<title>" in requests.get(f"{base}/ui/", timeout=5).text
        history = requests.get(f"{base}/api/v1/tasks/{task_id}", timeout=30)
        assert history.status_code == 200 and history.json()["taskId"] == task_id
        # Newest first across every task of the session's cloud: the listing is followed page by page, through the
        # proxy (its cursor too), under the status the task settled in.
        cloud.wait_for_status(task_id, {"SUCCEEDED"})
        params: dict[str, str | int] = {"status": "SUCCEEDED", "limit": 5}
        listed: list[str] = []
        while task_id not in listed:
            page = requests.get(f"{base}/api/v1/tasks", params=params, timeout=30).json()
            listed += [task["taskId"] for task in page["tasks"]]
            assert page.get("nextCursor") or task_id in listed, f"{task_id} not listed: {listed}"
            params["cursor"] = page.get("nextCursor") or ""
        assert json.loads(requests.get(f"{base}/swagger?format=json", timeout=30).text)["openapi"].startswith("3.")
    finally:
        process.send_signal(2)
        out, _ = process.communicate(timeout=15)
    assert process.returncode == 0, out
    assert "Traceback" not in out
