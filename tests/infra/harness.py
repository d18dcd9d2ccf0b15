"""Runs __main__.py under Pulumi's mock runtime and records every resource it declares, with its inputs."""

from __future__ import annotations

import json
import runpy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from local.deploy.stack_config import load_stack_config

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROJECT = "tasktrail"
ACCOUNT = "123456789012"
PUBLIC_KEY_CALL = "aws:kms/getPublicKey:getPublicKey"
MOCK_PUBLIC_KEY_PEM = "-----BEGIN PUBLIC KEY-----\nmock\n-----END PUBLIC KEY-----\n"


def _function_outputs(name: str, region: str) -> dict[str, Any]:
    arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"
    return {"arn": arn, "invokeArn": f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"}


def _layer_outputs(inputs: dict[str, Any], region: str) -> dict[str, Any]:
    layer = f"arn:aws:lambda:{region}:{ACCOUNT}:layer:{inputs['layerName']}"
    return {"layerArn": layer, "arn": f"{layer}:1", "version": "1"}


# type -> the outputs AWS would compute for it, shaped like the real ones: (name, resource id, inputs, region).
_COMPUTED: dict[str, Callable[[str, str, dict[str, Any], str], dict[str, Any]]] = {
    "aws:sqs/queue:Queue": lambda name, _, __, region: {
        "arn": f"arn:aws:sqs:{region}:{ACCOUNT}:{name}",
        "url": f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/{name}",
    },
    "aws:dynamodb/table:Table": lambda name, _, __, region: {
        "arn": f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}",
        "streamArn": f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}/stream/2026-12-01T00:00:00.000",
    },
    "aws:kms/key:Key": lambda _, resource_id, __, region: {
        "arn": f"arn:aws:kms:{region}:{ACCOUNT}:key/{resource_id}",
        "keyId": resource_id,
    },
    "aws:s3/bucket:Bucket": lambda _, __, inputs, ___: {
        "bucket": f"{inputs['bucketPrefix']}mock",
        "arn": f"arn:aws:s3:::{inputs['bucketPrefix']}mock",
    },
    "aws:cloudwatch/logGroup:LogGroup": lambda name, _, __, region: {
        "arn": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{name}"
    },
    # A role without a name is named by Pulumi (here: its resource id; on AWS its logical name and a random suffix).
    "aws:iam/role:Role": lambda name, _, __, ___: {"name": name, "arn": f"arn:aws:iam::{ACCOUNT}:role/{name}"},
    "aws:lambda/function:Function": lambda name, _, __, region: _function_outputs(name, region),
    "aws:lambda/layerVersion:LayerVersion": lambda _, __, inputs, region: _layer_outputs(inputs, region),
    "aws:apigateway/restApi:RestApi": lambda _, resource_id, __, region: {
        "rootResourceId": "rootid",
        "executionArn": f"arn:aws:execute-api:{region}:{ACCOUNT}:{resource_id}",
    },
    "aws:apigateway/stage:Stage": lambda _, __, inputs, region: {
        "invokeUrl": f"https://{inputs['restApi']}.execute-api.{region}.amazonaws.com/{inputs['stageName']}"
    },
    "aws:cloudwatch/eventRule:EventRule": lambda name, _, __, region: {
        "arn": f"arn:aws:events:{region}:{ACCOUNT}:rule/{name}"
    },
    "aws:apigateway/apiKey:ApiKey": lambda _, __, ___, ____: {"value": "mock-api-key-value"},
}


def _computed(typ: str, resource_id: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """The outputs AWS would compute for the types the program reads outputs of, shaped like the real ones."""
    compute = _COMPUTED.get(typ)
    return compute(inputs.get("name", resource_id), resource_id, inputs, region) if compute else {}


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers every resource with its inputs plus realistic computed outputs; refuses every provider call."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region
        self.resources: list[MockResourceArgs] = []
        self.calls: list[MockCallArgs] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        resource_id = f"{args.name}-id"
        return resource_id, {**args.inputs, **_computed(args.typ, resource_id, args.inputs, self.region)}

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        # The program needs AWS for one thing only: the digests' public key, which KMS alone knows (the local cloud
        # answers it from the emulator's key). Anything else is recorded and fails loudly.
        self.calls.append(args)
        if args.token == PUBLIC_KEY_CALL:
            key = str(args.args.get("keyId") or "unknown-key")
            return {"keyId": key, "publicKeyPem": MOCK_PUBLIC_KEY_PEM, "id": key}, []
        raise AssertionError(f"unexpected provider call {args.token}")


@dataclass
class ProgramRun:
    """What one run of the program declared."""

    stack: str
    config: dict[str, str]
    resources: list[MockResourceArgs]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def physical(self, suffix: str) -> str:
        """The physical name the program gives a resource of this stack."""
        return f"{PROJECT}-{self.stack}-{suffix}"

    def setting(self, key: str) -> int:
        """A numeric tasktrail:* config value of this run."""
        return int(self.config[f"{PROJECT}:{key}"])

    def id_of(self, typ: str, name: str) -> str:
        """The id the mocks gave the one resource of type `typ` whose physical name is `name`."""
        (resource,) = [r for r in self.resources if r.typ == typ and r.inputs.get("name") == name]
        return f"{resource.name}-id"

    def of_type(self, typ: str) -> list[dict[str, Any]]:
        """Inputs of every resource of type `typ`."""
        return [resource.inputs for resource in self.resources if resource.typ == typ]

    def one(self, typ: str) -> dict[str, Any]:
        """Inputs of the one resource of type `typ`."""
        (inputs,) = self.of_type(typ)
        return inputs

    def key_arn(self, purpose: str) -> str:
        """The ARN the mocks gave the stack's KMS key for `purpose` (signing, mac)."""
        (key,) = [r for r in self.resources if r.typ == "aws:kms/key:Key" and r.name.endswith(f"-{purpose}-key")]
        return f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key.name}-id"

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document the REST API is declared with (its `body`)."""
        (api,) = self.of_type("aws:apigateway/restApi:RestApi")
        document: dict[str, Any] = json.loads(api["body"])
        return document

    def routes(self) -> dict[str, dict[str, Any]]:
        """'METHOD /path' -> the OpenAPI operation of each route the API serves."""
        return {
            f"{method.upper()} {path}": operation
            for path, operations in self.openapi()["paths"].items()
            for method, operation in operations.items()
        }

    def named(self, typ: str, name: str) -> dict[str, Any]:
        """Inputs of the one resource of type `typ` whose physical name is `name`."""
        matches = [inputs for inputs in self.of_type(typ) if inputs.get("name") == name]
        assert len(matches) == 1, f"expected one {typ} named {name}, found {len(matches)}"
        return matches[0]


def _resolve(output: Any) -> tuple[Any, bool]:
    value = pulumi.Output.from_input(output)
    return _sync_await(value.future()), bool(_sync_await(value.is_secret()))


def run_program(
    stack: str = "test",
    overrides: dict[str, str] | None = None,
    mocks: RecordingMocks | None = None,
    transformation: pulumi.ResourceTransformation | None = None,
) -> ProgramRun:
    """Run __main__.py as `stack` (Pulumi.<stack>.yaml if present, over Pulumi.yaml defaults) plus `overrides`.

    Pulumi's runtime is process-global: the root stack, config and settings are all reset here, so that
    runs do not leak into each other. A program error propagates; pass `mocks` to see what was declared before it,
    and `transformation` (a stack transformation) to see each resource's options, which the mocks are not told.
    """
    config = load_stack_config(PROJECT_DIR, stack, overrides)
    mocks = RecordingMocks() if mocks is None else mocks
    mocks.region = config["aws:region"]
    run = ProgramRun(stack=stack, config=config, resources=mocks.resources)

    runtime_settings.reset_options(project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config(config)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    root = runtime_settings.get_root_resource()
    assert root is not None

    def program() -> None:
        if transformation is not None:
            pulumi.runtime.register_stack_transformation(transformation)
        runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")

    _sync_await(run_pulumi_func(program))

    for key, output in root.outputs.items():  # type: ignore[attr-defined]
        run.outputs[key], secret = _resolve(output)
        if secret:
            run.secret_outputs.add(key)
    # The one provider call the program makes: the digests' public key, from KMS.
    assert [call.token for call in mocks.calls] == [PUBLIC_KEY_CALL]
    return run
