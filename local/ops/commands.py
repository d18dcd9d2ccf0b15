"""`history`, `list` and `redrive`: argument parsing and output; the work is the handlers' own logic."""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
from pathlib import Path
from typing import Any

from local.ops import render
from local.ops.target import Target, TargetError, activate, add_arguments, resolve

COMMANDS = ("history", "list", "redrive")
STATUSES = ("QUEUED", "RETRYING", "SUCCEEDED", "DEAD_LETTERED")
LIST_LIMIT = 20
# Pages read by `redrive --status`: a bound, so that a mistaken filter cannot redrive without end.
REDRIVE_PAGE = 100


def add_commands(commands: Any) -> None:
    """Add the operator subcommands to `python -m local`'s subparsers."""
    history = commands.add_parser("history", help="a task's events as a timeline (time, event, attempt, timeout)")
    history.add_argument("task_id", metavar="TASK_ID")
    history.add_argument("--json", action="store_true", help="the API's JSON (GET /tasks/{taskId})")
    add_arguments(history)

    listing = commands.add_parser("list", help="tasks by current status, newest first, from the status index")
    listing.add_argument("--status", choices=STATUSES, help="the status the tasks are in now (default: any)")
    listing.add_argument("--since", help="entered that status since: 30m, 1h, 2d or an ISO 8601 time")
    listing.add_argument("--limit", type=int, default=LIST_LIMIT, help=f"tasks per page (default {LIST_LIMIT})")
    listing.add_argument("--cursor", help="the page after the one that printed this cursor")
    listing.add_argument("--all", action="store_true", help="follow the cursor to the last page")
    listing.add_argument("--json", action="store_true", help='{"tasks": [...], "nextCursor": ...}')
    add_arguments(listing)

    redrive = commands.add_parser(
        "redrive", help="start dead-lettered tasks again from their original message (each once per command)"
    )
    redrive.add_argument("task_ids", nargs="*", metavar="TASK_ID")
    redrive.add_argument("--status", choices=["DEAD_LETTERED"], help="redrive every task dead-lettered now")
    redrive.add_argument("--since", help="with --status: dead-lettered since 30m, 1h, 2d or an ISO 8601 time")
    redrive.add_argument("--dry-run", action="store_true", help="say which tasks would be redriven, and stop")
    redrive.add_argument("--json", action="store_true", help='{"redriven": [...], "skipped": [...]}')
    add_arguments(redrive)


def run(args: argparse.Namespace, local_state_dir: Path) -> int:
    """Run one operator command; 0 on success, 1 when the target is unreachable or a task could not be handled."""
    from handlers.errors import TaskTrailError

    try:
        target = resolve(args, local_state_dir)
        activate(target)
        if args.command == "history":
            return _history(args, target)
        if args.command == "list":
            return _list(args, target)
        return _redrive(args, target)
    except (TargetError, TaskTrailError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))


def _history(args: argparse.Namespace, target: Target) -> int:
    from handlers.errors import TaskNotFoundError
    from handlers.logic.history import task_history

    try:
        history = task_history(target.table, args.task_id).model_dump(mode="json")
    except TaskNotFoundError as error:
        print(f"error: {error} in {target.description}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(history)
    else:
        print(render.history_text(history))
    return 0


def _list(args: argparse.Namespace, target: Target) -> int:
    from handlers.logic.listing import list_tasks
    from handlers.models.events import TaskStatus

    status = TaskStatus(args.status) if args.status else None
    page = list_tasks(target.table, status, args.since, args.limit, args.cursor)
    tasks = [task.model_dump(mode="json") for task in page.tasks]
    cursor = page.nextCursor
    while args.all and cursor:
        page = list_tasks(target.table, status, None, args.limit, cursor)
        tasks += [task.model_dump(mode="json") for task in page.tasks]
        cursor = page.nextCursor
    if args.json:
        _print_json({"tasks": tasks, "nextCursor": cursor})
        return 0
    print(render.page_text(tasks, f"the same command with --cursor {cursor}" if cursor else None))
    return 0


def _task_ids(args: argparse.Namespace, target: Target) -> list[str]:
    """The tasks to redrive, each once, in the order named (or newest dead-lettered first)."""
    from handlers.logic.listing import list_tasks
    from handlers.models.events import TaskStatus

    if args.task_ids and args.status:
        raise TargetError("name tasks or give --status, not both")
    if not args.task_ids and not args.status:
        raise TargetError("name the tasks to redrive, or give --status DEAD_LETTERED [--since ...]")
    if args.task_ids:
        return list(dict.fromkeys(args.task_ids))
    page = list_tasks(target.table, TaskStatus.DEAD_LETTERED, args.since, REDRIVE_PAGE)
    ids = [task.taskId for task in page.tasks]
    while page.nextCursor:
        page = list_tasks(target.table, TaskStatus.DEAD_LETTERED, None, REDRIVE_PAGE, page.nextCursor)
        ids += [task.taskId for task in page.tasks]
    return list(dict.fromkeys(ids))


def _redrive(args: argparse.Namespace, target: Target) -> int:
    from handlers.errors import ServiceUnavailableError, TaskConflictError, TaskNotFoundError
    from handlers.logic.redrive import redrive_task

    task_ids = _task_ids(args, target)
    if args.dry_run:
        print("\n".join(f"would redrive {task_id}" for task_id in task_ids) or "nothing to redrive")
        return 0
    if not target.queue_url:
        raise TargetError(f"{target.description} has no processingQueueUrl output; pass --queue-url")
    requested_by = f"cli ({getpass.getuser()}@{socket.gethostname()})"
    redriven: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for task_id in task_ids:
        try:
            redriven.append(redrive_task(target.table, target.queue_url, task_id, requested_by).model_dump())
        except (TaskNotFoundError, TaskConflictError, ServiceUnavailableError) as error:
            reason = type(error).__name__.removesuffix("Error")
            skipped.append({"taskId": task_id, "reason": reason, "message": str(error)})
    if args.json:
        _print_json({"redriven": redriven, "skipped": skipped})
    else:
        print(render.redrive_text(redriven, skipped))
    # Asked by name, every task is expected to be redriven; by status, the listed ones were dead-lettered.
    return 0 if not skipped else 1
