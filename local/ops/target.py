"""Which stack the operator commands act on: the running local cloud, a deployed Pulumi stack, or explicit names;
and the AWS clients that reach it. The handlers' logic is handed a store and a queue built on those clients, so a
command never points the process's own environment at another stack."""

from __future__ import annotations

import argparse
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.cloud import state

if TYPE_CHECKING:
    import boto3

    from handlers.dal.audit_store import AuditStore
    from handlers.dal.queue import TaskQueue

# What an emulator accepts when the stack's outputs name no credentials of its own.
EMULATOR_CREDENTIALS = ("testing", "testing")


class TargetError(Exception):
    """The target stack cannot be found or reached; the message says what to do."""


@dataclass(frozen=True)
class Target:
    """One stack's audit table, processing queue and API, and how to reach them."""

    table: str
    queue_url: str | None
    endpoint_url: str | None
    region: str | None
    description: str
    api_url: str | None = None
    api_key: str | None = None
    # An emulator's administrator (the local stack's outputs), never sent to AWS itself.
    credentials: tuple[str, str] | None = None
    # The audit trail's proof: the digest bucket, the signing key's public half (PEM), the events' MAC key.
    digest_bucket: str | None = None
    public_key_pem: str | None = None
    mac_key_id: str | None = None

    def session(self) -> boto3.session.Session:
        """A boto3 session of its own: your AWS credentials for a deployed stack, the emulator's for a local one."""
        import boto3

        key, secret = self.credentials or (EMULATOR_CREDENTIALS if self.endpoint_url else (None, None))
        return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=self.region)

    def client(self, service: str) -> Any:
        """A boto3 client of `service` for this stack (on its emulator, when it has one)."""
        return self.session().client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]

    def store(self) -> AuditStore:
        """The stack's audit table, as the handlers' logic reads and appends to it."""
        from handlers.dal.audit_store import AuditStore

        return AuditStore(self.client("dynamodb"), self.table)

    def queue(self) -> TaskQueue:
        """The stack's processing queue (redrive sends to it)."""
        from handlers.dal.queue import TaskQueue

        if not self.queue_url:
            raise TargetError(f"{self.description} has no processingQueueUrl output; pass --queue-url")
        return TaskQueue(self.client("sqs"), self.queue_url)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every operator command takes to pick its stack."""
    group = parser.add_argument_group("target stack (default: the running local stack)")
    group.add_argument("--stack", metavar="NAME", help="a deployed stack, read with `pulumi stack output --json`")
    group.add_argument("--table", help="the audit table's name (overrides the stack's)")
    group.add_argument("--queue-url", metavar="URL", help="the processing queue's URL (overrides the stack's)")
    group.add_argument("--endpoint-url", metavar="URL", help="an AWS endpoint other than AWS's own (an emulator)")
    group.add_argument("--region", help="the stack's region (default: the stack's `region` output)")
    group.add_argument("--state-dir", metavar="DIR", help="the state directory of the local `up` to use")


def resolve(args: argparse.Namespace, local_state_dir: Path, show_secrets: bool = False) -> Target:
    """Explicit flags win over the outputs of --stack, which win over those of the local stack."""
    if args.stack:
        outputs, description = stack_outputs(args.stack, show_secrets), f"stack {args.stack}"
    elif args.table:
        outputs, description = {}, f"table {args.table}"
    else:
        try:
            outputs = state.read_outputs(local_state_dir, check_process=False)
        except state.NoLocalStackError as exc:
            raise TargetError(f"{exc}, or name a deployed one with --stack NAME, or pass --table/--queue-url") from exc
        description = "the local stack"
    table = args.table or outputs.get("auditTableName")
    if not table:
        raise TargetError(f"{description} has no auditTableName output; pass --table")
    key, secret = outputs.get("awsAccessKeyId"), outputs.get("awsSecretAccessKey")
    return Target(
        table=str(table),
        queue_url=args.queue_url or outputs.get("processingQueueUrl"),
        endpoint_url=args.endpoint_url or outputs.get("awsEndpoint"),
        region=args.region or outputs.get("region"),
        description=description,
        api_url=outputs.get("apiUrl"),
        api_key=outputs.get("apiKey"),
        credentials=(str(key), str(secret)) if key and secret else None,
        digest_bucket=outputs.get("digestBucket"),
        public_key_pem=outputs.get("digestPublicKey"),
        mac_key_id=outputs.get("eventMacKeyArn"),
    )


def stack_outputs(stack: str, show_secrets: bool = False) -> dict[str, Any]:
    """`pulumi stack output --json --stack NAME`; secrets (the API key) only when asked."""
    command = ["pulumi", "stack", "output", "--json", "--stack", stack] + (["--show-secrets"] if show_secrets else [])
    try:
        done = subprocess.run(  # noqa: S603 - the pulumi CLI with a stack name, no shell
            command,
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
