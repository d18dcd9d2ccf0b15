"""Readable text for the operator commands: a task's timeline, a page of tasks, the outcome of a redrive."""

from __future__ import annotations

import json
from typing import Any

# Shown in the detail column, in this order, when an event has them.
DETAIL_FIELDS = ("error", "lastError", "reason", "requestedBy", "attempts", "payload")
MAX_DETAIL = 100


def _time(at: str) -> str:
    return at.replace("T", " ").removesuffix("Z")


def _cut(text: str, width: int = MAX_DETAIL) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _detail(event: dict[str, Any]) -> str:
    parts = []
    for name in DETAIL_FIELDS:
        if name in event:
            value = event[name]
            text = json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) else str(value)
            parts.append(text if name in {"error", "lastError"} else f"{name} {text}")
    return _cut("; ".join(parts))


def history_text(history: dict[str, Any]) -> str:
    """The task's events as a timeline, one line each, with a rule where a new life (a redrive) starts."""
    events = history["events"]
    lines = [
        f"task {history['taskId']}: {history['status']} (life {history['life']}, {history['attempts']} attempt"
        f"{'' if history['attempts'] == 1 else 's'} in it)",
        "",
        f"{'#':>3}  {'time (UTC)':<23}  {'event':<16}  {'attempt':>7}  {'timeout':>7}  detail",
    ]
    life = None
    for event in events:
        if event["life"] != life:
            life = event["life"]
            lines.append(f"---  life {life}" + (" (first)" if life == 0 else " (redriven)") + " " + "-" * 40)
        timeout = f"{event['visibilityTimeout']}s" if "visibilityTimeout" in event else ""
        attempt = str(event.get("attempt", ""))
        lines.append(
            f"{event['seq']:>3}  {_time(event['at']):<23}  {event['type']:<16}  {attempt:>7}  {timeout:>7}  "
            f"{_detail(event)}".rstrip()
        )
    return "\n".join(lines)


def page_text(tasks: list[dict[str, Any]], next_command: str | None) -> str:
    """A table of tasks, newest status change first, and how to get the next page."""
    if not tasks:
        return "no tasks"
    width = max(7, *(len(task["taskId"]) for task in tasks))
    lines = [f"{'TASK ID':<{width}}  {'STATUS':<13}  {'SINCE (UTC)':<23}  LIFE  ATTEMPTS  LAST ERROR"]
    lines += [
        f"{task['taskId']:<{width}}  {task['status']:<13}  {_time(task['statusAt']):<23}  {task['life']:>4}  "
        f"{task['attempts']:>8}  {_cut(task.get('lastError') or '', 60)}".rstrip()
        for task in tasks
    ]
    if next_command:
        lines += ["", f"more: {next_command}"]
    return "\n".join(lines)


def redrive_text(redriven: list[dict[str, Any]], skipped: list[dict[str, Any]]) -> str:
    """One line per task asked for: redriven into which life, or why not."""
    lines = [f"redriven  {task['taskId']}  -> life {task['life']}, {task['status']}" for task in redriven]
    lines += [f"skipped   {task['taskId']}  {task['reason']}: {task['message']}" for task in skipped]
    lines.append(f"{len(redriven)} redriven, {len(skipped)} skipped")
    return "\n".join(lines)
