"""Which stack the operator commands act on: the running local cloud, a deployed Pulumi stack, or explicit names."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.cloud import OUTPUTS_FILE


class TargetError(Exception):
    """The target stack cannot be found; the message says what to do."""


@dataclass(frozen=True)
class Target:
    """The audit table and processing queue of one stack, and how to reach them."""

    table: str
    queue_url: str | None
    endpoint_url: str | None
    region: str | None
    description: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every operator command takes to pick its stack."""
    group = parser.add_argument_group("target (default: the running local stack)")
    group.add_argument("--stack", help="a deployed stack: its outputs come from `pulumi stack output --json`")
    group.add_argument("--table", help="the audit table's name (overrides the stack's)")
    group.add_argument("--queue-url", help="the processing queue's URL (overrides the stack's; redrive needs it)")
    group.add_argument("--endpoint-url", help="an AWS endpoint other than AWS's own (e.g. the local emulator)")
    group.add_argument("--region", help="the stack's region (default: the stack's `region` output)")
    group.add_argument("--state-dir", help="the state directory of the local `up` to use")


def resolve(args: argparse.Namespace, local_state_dir: Path) -> Target:
    """Explicit flags win over the outputs of --stack, which win over those of the local stack."""
    if args.stack:
        outputs, description = stack_outputs(args.stack), f"stack {args.stack}"
    elif args.table:
        outputs, description = {}, f"table {args.table}"
    else:
        outputs, description = local_outputs(local_state_dir), "the local stack"
    table = args.table or outputs.get("auditTableName")
    if not table:
        raise TargetError(f"{description} has no auditTableName output; pass --table")
    return Target(
        table=str(table),
        queue_url=args.queue_url or outputs.get("processingQueueUrl"),
        endpoint_url=args.endpoint_url or outputs.get("awsEndpoint"),
        region=args.region or outputs.get("region"),
        description=description,
    )


def local_outputs(state_dir: Path) -> dict[str, Any]:
    """The outputs the running `python -m local up` wrote."""
    try:
        outputs: dict[str, Any] = json.loads((state_dir / OUTPUTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TargetError(
            f"no local stack is running (no {state_dir / OUTPUTS_FILE}): start one with `make local`, "
            "or name a deployed one with --stack NAME, or pass --table/--queue-url"
        ) from exc
    return outputs


def stack_outputs(stack: str) -> dict[str, Any]:
    """`pulumi stack output --json --stack NAME`; secrets stay hidden (no command here needs the API key)."""
    try:
        done = subprocess.run(  # noqa: S603 - the pulumi CLI with a stack name, no shell
            ["pulumi", "stack", "output", "--json", "--stack", stack],  # noqa: S607 - pulumi from PATH, as its docs say
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    except FileNotFoundError as exc:
        raise TargetError("the pulumi CLI is not on PATH: install it, or pass --table and --queue-url") from exc
    if done.returncode != 0:
        raise TargetError(f"`pulumi stack output --stack {stack}` failed: {done.stderr.strip() or done.returncode}")
    try:
        outputs: dict[str, Any] = json.loads(done.stdout)
    except ValueError as exc:
        raise TargetError(f"`pulumi stack output --stack {stack}` did not print JSON") from exc
    return outputs


def activate(target: Target) -> None:
    """Point the handlers' boto3 clients (built from the environment, as on Lambda) at the target, and keep
    their logs and metrics off stdout, which is the commands' output."""
    if target.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = target.endpoint_url
        # An emulator accepts any key; never send real credentials to it.
        os.environ["AWS_ACCESS_KEY_ID"] = "testing"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"  # noqa: S105 - the emulator's dummy key
        os.environ.pop("AWS_SESSION_TOKEN", None)
    else:
        os.environ.pop("AWS_ENDPOINT_URL", None)
    if target.region:
        os.environ["AWS_DEFAULT_REGION"] = target.region
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tasktrail-cli")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "tasktrail")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

    from handlers.dal import clients
    from handlers.observability import logger

    clients.dynamodb.cache_clear()
    clients.sqs.cache_clear()
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler) and not isinstance(handler.stream, _Stderr):
        handler.stream = _Stderr()


class _Stderr:
    """Whatever sys.stderr is at the time of each write (tests swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()
