"""`history`, `list`, `redrive` and `ui`: the operators' commands, for the local stack or a deployed one. Argument
parsing and output are here; the work is the handlers' own logic, handed the target stack's store and queue."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local.ops import render
from local.ops.target import Target, TargetError, add_arguments, resolve

LIST_LIMIT = 20
# Pages read by `redrive --status`: a bound, so that a mistaken filter cannot redrive without end.
REDRIVE_PAGE = 100


def _statuses() -> list[str]:
    from handlers.models.events import TaskStatus

    return [status.value for status in TaskStatus]


def add_commands(commands: Any) -> None:
    """Add the operator subcommands to the `tasktrail` subparsers."""
    history = commands.add_parser(
        "history",
        help="show a task's events as a timeline",
        description="Show a task's events as a timeline: time, event, attempt, visibility timeout and error, one "
        "section per life (a redrive starts a new one).",
        epilog="examples:\n  tasktrail history order-42\n  tasktrail history order-42 --json --stack prod",
    )
    history.add_argument("task_id", metavar="TASK_ID")
    history.add_argument("--json", action="store_true", help="print the API's document (GET /tasks/{taskId})")
    add_arguments(history)

    listing = commands.add_parser(
        "list",
        help="list tasks by their current status, newest first",
        description="List tasks by their current status, newest status change first, from the status index (never "
        "a scan). One page at a time; the next page's command is printed.",
        epilog="examples:\n  tasktrail list --status DEAD_LETTERED --since 1h\n  tasktrail list --all --json",
    )
    listing.add_argument("--status", choices=_statuses(), help="the status the tasks are in now (default: any)")
    listing.add_argument("--since", help="entered that status since: 90s, 30m, 1h, 2d, 1w or an ISO 8601 time")
    listing.add_argument("--limit", type=int, default=LIST_LIMIT, help=f"tasks per page (default {LIST_LIMIT})")
    listing.add_argument("--cursor", help="the page after the one that printed this cursor")
    listing.add_argument("--all", action="store_true", help="follow the cursor to the last page")
    listing.add_argument("--json", action="store_true", help='print {"tasks": [...], "nextCursor": ...}')
    add_arguments(listing)

    redrive = commands.add_parser(
        "redrive",
        help="start dead-lettered tasks again from their original message",
        description="Start dead-lettered tasks again from the message their DEAD_LETTERED event kept: each gets "
        "REDRIVEN, the first event of its next life, and is sent again. Each task is redriven once per command; a "
        "task that is not DEAD_LETTERED now is skipped (exit status 1).",
        epilog="examples:\n  tasktrail redrive task-7 task-9\n"
        "  tasktrail redrive --status DEAD_LETTERED --since 1h --dry-run",
    )
    redrive.add_argument("task_ids", nargs="*", metavar="TASK_ID")
    redrive.add_argument("--status", choices=["DEAD_LETTERED"], help="redrive every task dead-lettered now")
    redrive.add_argument("--since", help="with --status: dead-lettered since 30m, 1h, 2d or an ISO 8601 time")
    redrive.add_argument("--dry-run", action="store_true", help="say which tasks would be redriven, and stop")
    redrive.add_argument("--json", action="store_true", help='print {"redriven": [...], "skipped": [...]}')
    add_arguments(redrive)

    verify = commands.add_parser(
        "verify",
        help="check the audit trail against its signed digests",
        description="Check the audit trail against its signed digests: every digest's signature (offline, with the "
        "stack's public key), the chain from the first digest to the last, the continuity of periods, and every "
        "event's hash and MAC. Reports, precisely, any event altered, moved, deleted or inserted outside the "
        "pipeline, and any digest deleted, edited, unsigned, late or missing. Exit status 1 on any finding.",
        epilog="examples:\n  tasktrail verify\n  tasktrail verify --task order-42\n"
        "  tasktrail verify --stack prod --since 2d --json --public-key prod-digests.pem\n"
        "  tasktrail verify --stack prod --digest-bucket prod-digests-replica",
    )
    verify.add_argument("--task", metavar="TASK_ID", help="check one task's events (the digests all the same)")
    verify.add_argument("--since", help="only the digests (and events) since: 30m, 1h, 2d or an ISO 8601 time")
    verify.add_argument("--public-key", type=Path, metavar="FILE", help="the digests' public key (PEM) to trust")
    verify.add_argument(
        "--digest-bucket", metavar="BUCKET", help="read the digests from this bucket (a replica or a copy) instead"
    )
    verify.add_argument("--json", action="store_true", help="print the outcome as JSON")
    add_arguments(verify)

    ui = commands.add_parser(
        "ui",
        help="serve the timeline page for a stack",
        description="Serve the timeline page on this machine for any stack: its API calls go through a small "
        "proxy here, which adds the stack's API key (from its outputs), so the key never reaches the browser.",
        epilog="examples:\n  tasktrail ui\n  tasktrail ui --stack prod --port 8080",
    )
    ui.add_argument("--port", type=int, default=8800, help="port to serve the page on (default 8800; 0: any)")
    add_arguments(ui)


COMMANDS = ("history", "list", "redrive", "verify", "ui")


def run(args: argparse.Namespace, local_state_dir: Path) -> int:
    """Run one operator command; 0 on success, 1 when a task could not be handled. TargetError and the handlers'
    own errors go to the caller, which reports them in one line."""
    from handlers.observability import outside_lambda

    commands: dict[str, Callable[[argparse.Namespace, Target], int]] = {
        "history": _history,
        "list": _list,
        "redrive": _redrive,
        "verify": _verify,
        "ui": _ui,
    }
    target = resolve(args, local_state_dir, show_secrets=args.command == "ui")
    with outside_lambda():
        return commands[args.command](args, target)


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))


def _history(args: argparse.Namespace, target: Target) -> int:
    from handlers.errors import TaskNotFoundError
    from handlers.logic.history import task_history

    try:
        history = task_history(target.store(), args.task_id).model_dump(mode="json")
    except TaskNotFoundError as error:
        raise TargetError(f"{error} in {target.description}") from error
    if args.json:
        _print_json(history)
    else:
        print(render.history_text(history))
    return 0


def _list(args: argparse.Namespace, target: Target) -> int:
    from handlers.logic.listing import list_tasks
    from handlers.models.events import TaskStatus

    store = target.store()
    status = TaskStatus(args.status) if args.status else None
    page = list_tasks(store, status, args.since, args.limit, args.cursor)
    tasks = [task.model_dump(mode="json") for task in page.tasks]
    cursor = page.nextCursor
    while args.all and cursor:
        page = list_tasks(store, status, None, args.limit, cursor)
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
    store = target.store()
    page = list_tasks(store, TaskStatus.DEAD_LETTERED, args.since, REDRIVE_PAGE)
    ids = [task.taskId for task in page.tasks]
    while page.nextCursor:
        page = list_tasks(store, TaskStatus.DEAD_LETTERED, None, REDRIVE_PAGE, page.nextCursor)
        ids += [task.taskId for task in page.tasks]
    return list(dict.fromkeys(ids))


def _redrive(args: argparse.Namespace, target: Target) -> int:
    from handlers.errors import ServiceUnavailableError, TaskConflictError, TaskNotFoundError
    from handlers.logic.redrive import redrive_task

    task_ids = _task_ids(args, target)
    if args.dry_run:
        print("\n".join(f"would redrive {task_id}" for task_id in task_ids) or "nothing to redrive")
        return 0
    store, queue = target.store(), target.queue()
    requested_by = f"cli ({getpass.getuser()}@{socket.gethostname()})"
    redriven: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for task_id in task_ids:
        try:
            redriven.append(redrive_task(store, queue, task_id, requested_by).model_dump(mode="json"))
        except (TaskNotFoundError, TaskConflictError, ServiceUnavailableError) as error:
            reason = type(error).__name__.removesuffix("Error")
            skipped.append({"taskId": task_id, "reason": reason, "message": str(error)})
    if args.json:
        _print_json({"redriven": redriven, "skipped": skipped})
    else:
        print(render.redrive_text(redriven, skipped))
    # Asked by name, every task is expected to be redriven; by status, the listed ones were dead-lettered.
    return 0 if not skipped else 1


def _verify(args: argparse.Namespace, target: Target) -> int:
    from handlers.logic.listing import parse_since
    from handlers.models.timestamps import parse_at
    from local.ops.verify import report_json, report_text, verify

    since_text = parse_since(args.since)
    if args.digest_bucket:
        target = dataclasses.replace(target, digest_bucket=args.digest_bucket)
    outcome = verify(target, parse_at(since_text) if since_text else None, args.task, args.public_key)
    print(report_json(outcome) if args.json else report_text(outcome))
    return 1 if outcome.findings else 0


def _ui(args: argparse.Namespace, target: Target) -> int:
    from local.ops.ui import serve

    return serve(target, args.port)
