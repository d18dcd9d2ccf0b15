"""The state directory of a running `tasktrail up`: its stack outputs and its process, for `tasktrail outputs`, the
operator commands, the tests and the benches (each cloud may have its own directory: --state-dir)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[2]
# Tests and a second local cloud point this elsewhere, so that they do not overwrite `make local`'s outputs.
STATE_DIR_ENV = "TASKTRAIL_LOCAL_STATE_DIR"
OUTPUTS_FILE = "outputs.json"
RUN_FILE = "run.json"


class NoLocalStackError(Exception):
    """No local stack runs with this state directory; the message says how to start one."""


def state_dir(value: str | None = None) -> Path:
    """The state directory: `value` (a --state-dir), else $TASKTRAIL_LOCAL_STATE_DIR, else .tasktrail-local."""
    return Path(value or os.environ.get(STATE_DIR_ENV) or PROJECT_DIR / ".tasktrail-local").resolve()


def write(directory: Path, outputs: dict[str, Any], run: dict[str, Any]) -> None:
    """Record a cloud that has just started serving."""
    directory.mkdir(parents=True, exist_ok=True)
    _write_json(directory / OUTPUTS_FILE, outputs)
    _write_json(directory / RUN_FILE, run)


def clear(directory: Path) -> None:
    """Forget this process's cloud, once stopped (not another's that has taken the directory over since)."""
    try:
        owner = int(json.loads((directory / RUN_FILE).read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError):
        owner = os.getpid()
    if owner != os.getpid():
        return
    for name in (OUTPUTS_FILE, RUN_FILE):
        (directory / name).unlink(missing_ok=True)


def read_outputs(directory: Path, check_process: bool = True) -> dict[str, Any]:
    """The outputs of the cloud running with this state directory; NoLocalStackError if none runs (with
    `check_process`, also when its process is gone)."""
    try:
        outputs: dict[str, Any] = json.loads((directory / OUTPUTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NoLocalStackError(
            f"no local stack is running (no {directory / OUTPUTS_FILE}): start one with `make local`"
        ) from exc
    if check_process:
        try:
            pid = int(json.loads((directory / RUN_FILE).read_text(encoding="utf-8"))["pid"])
        except (OSError, ValueError, KeyError) as exc:
            raise NoLocalStackError(f"no local stack is running (no {directory / RUN_FILE})") from exc
        if not _pid_alive(pid):
            raise NoLocalStackError(f"the local stack's process {pid} is gone: start it again with `make local`")
    return outputs


def _write_json(path: Path, data: Any) -> None:
    # Atomic, so that a reader never sees half a file.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
