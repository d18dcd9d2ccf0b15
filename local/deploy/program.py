"""Runs the project's Pulumi program under Pulumi's mock runtime, creating each resource in the emulator."""

from __future__ import annotations

import json
import os
import runpy
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from local.deploy.provision import ResourceFactory
from local.deploy.topology import Registered
from local.emulator.account import ACCOUNT_ID, REGION

PROJECT = "tasktrail"
STACK = "local"


class EmulatorMocks(Mocks):
    """Pulumi mocks whose resources are real ones in the emulator; every registration is kept, in order."""

    def __init__(self, factory: ResourceFactory) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self.registered: list[Registered] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.custom:
            return "", {}
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider", dict(args.inputs)
        # The monitor calls this from several threads at once; boto3 clients are thread-safe, the list is not.
        resource_id, state = self._factory.create(args.typ, args.name, dict(args.inputs))
        with self._lock:
            self.registered.append(Registered(args.typ, args.name, resource_id, state))
        return resource_id, state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            arn = f"arn:aws:iam::{ACCOUNT_ID}:user/local"
            return {"accountId": ACCOUNT_ID, "arn": arn, "id": ACCOUNT_ID, "userId": "AIDALOCAL"}, None
        if token in {"aws:index/getRegion:getRegion", "aws:index/region:getRegion"}:
            endpoint = f"ec2.{REGION}.amazonaws.com"
            return {"name": REGION, "region": REGION, "id": REGION, "description": REGION, "endpoint": endpoint}, None
        if token == "aws:index/getPartition:getPartition":
            partition = {"partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws"}
            return {**partition, "id": "aws"}, None
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {"json": _policy_document(args.args), "id": "policy"}, None
        if token == "aws:kms/getPublicKey:getPublicKey":
            return self._factory.public_key(str(args.args["keyId"])), []
        raise NotImplementedError(f"the local cloud does not answer the invoke {token}")


def _policy_document(args: dict[str, Any]) -> str:
    statements = []
    for s in args.get("statements") or []:
        statement: dict[str, Any] = {"Effect": s.get("effect") or "Allow"}
        if s.get("sid"):
            statement["Sid"] = s["sid"]
        for key, out in (("actions", "Action"), ("notActions", "NotAction"), ("resources", "Resource")):
            if s.get(key):
                statement[out] = s[key]
        for p in s.get("principals") or []:
            statement.setdefault("Principal", {})[p["type"]] = p["identifiers"]
        for c in s.get("conditions") or []:
            statement.setdefault("Condition", {}).setdefault(c["test"], {})[c["variable"]] = c["values"]
        statements.append(statement)
    return json.dumps({"Version": args.get("version") or "2012-10-17", "Statement": statements})


@contextmanager
def _in_project(project_dir: Path) -> Iterator[None]:
    # The program resolves FileArchive("./handlers") and imports infra/ relative to the project, as under the CLI.
    cwd = Path.cwd()
    os.chdir(project_dir)
    sys.path.insert(0, str(project_dir))
    try:
        yield
    finally:
        sys.path.remove(str(project_dir))
        os.chdir(cwd)


def run_program(
    project_dir: Path, config: dict[str, str], factory: ResourceFactory
) -> tuple[list[Registered], dict[str, Any]]:
    """Run `__main__.py` as stack `local`; return the registered resources and the resolved stack outputs."""
    mocks = EmulatorMocks(factory)
    pulumi.runtime.set_all_config(config)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=STACK, preview=False)
    outputs: dict[str, Any] = {}

    def program() -> None:
        with _in_project(project_dir):
            runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")
        root = pulumi.runtime.settings.get_root_resource()
        exports = dict(getattr(root, "outputs", {}))
        resolved = _sync_await(pulumi.Output.from_input(exports).future())
        outputs.update(resolved or {})

    _sync_await(run_pulumi_func(program))
    return mocks.registered, outputs
