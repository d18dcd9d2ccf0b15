"""The local cloud's lifecycle: the emulator, the program deployed into it, the functions, the API and the event
sources up in that order, and down in reverse."""

from __future__ import annotations

import os
import shlex
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

from handlers.models.contract import API_BASE_PATH, API_KEY_HEADER
from local.cloud import state
from local.deploy.lambda_host import host_runtime
from local.deploy.packaging import extract_package
from local.deploy.program import STACK, run_program
from local.deploy.provision import ResourceFactory
from local.deploy.stack_config import load_stack_config
from local.deploy.topology import FunctionSpec, Topology, build_topology
from local.emulator.access import EmulatorAccess
from local.emulator.account import REGION
from local.emulator.credentials import Credentials
from local.emulator.server import Emulator
from local.ops.web.pages import operator_mounts
from local.services.apigateway import ApiFront, ApiServer
from local.services.event_source import EventSource, Wiring
from local.services.lambda_.runtime import Credentials as EnvironmentCredentials
from local.services.lambda_.runtime import FunctionPool, FunctionSetup
from local.services.logs import LogPrinter
from local.services.registry import event_sources

# Environments per function behind the API. Lambda would start one per concurrent request, but here they share
# this machine's cores with the emulator: more processes than cores only makes every invocation slower, and a
# slow one overruns its timeout (a 3 s gateway) where Lambda's would not. Requests beyond it wait for a free one.
API_CONCURRENCY = max(2, min(4, os.cpu_count() or 2))
# Environments of a function invoked asynchronously (an EventBridge schedule's target): enough for runs to overlap.
ASYNC_CONCURRENCY = 2


@dataclass
class Options:
    """How `tasktrail up` was asked to run."""

    project_dir: Path
    state_dir: Path
    port: int = 3000
    aws_port: int = 4566
    endpoint_url: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    # Each function calls AWS with its own role's credentials, and the emulator refuses what the role does not allow.
    enforce_iam: bool = True


def _wait_reachable(endpoint: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urlopen(endpoint, timeout=2)  # noqa: S310 - a local http endpoint given by the user
            return
        except HTTPError:
            # Any HTTP answer, even an error status, means an emulator is listening.
            return
        except (URLError, OSError) as error:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no AWS emulator answers at {endpoint}: {error}") from error
            time.sleep(0.2)


class LocalCloud:
    """One running local stack. `start()` returns once it serves; `stop()` drains and ends it."""

    def __init__(self, options: Options, printer: LogPrinter) -> None:
        self.options = options
        self.printer = printer
        self.emulator: Emulator | None = None
        self.endpoint = options.endpoint_url or ""
        self.access = EmulatorAccess(self.endpoint, None)
        self.pools: dict[str, FunctionPool] = {}
        self.sources: list[EventSource] = []
        self.api: ApiServer | None = None
        self.topology: Topology | None = None
        self.outputs: dict[str, Any] = {}

    def start(self) -> dict[str, Any]:
        started = time.monotonic()
        self._start_emulator()
        config = load_stack_config(self.options.project_dir, STACK, self.options.overrides or None)
        factory = ResourceFactory(self.access, self.options.project_dir)
        registered, outputs = run_program(self.options.project_dir, config, factory)
        self.topology = build_topology(registered)
        self._start_functions(factory)
        self._start_api()
        self.sources = event_sources(Wiring(self.topology, self.pools, self.endpoint, self.printer, self._role))
        for source in self.sources:
            source.start()
        self.outputs = self._local_outputs(outputs)
        state.write(self.options.state_dir, self.outputs, self.run_info())
        self.printer.info(f"ready in {time.monotonic() - started:.1f}s")
        return self.outputs

    def _start_emulator(self) -> None:
        if self.options.endpoint_url:
            _wait_reachable(self.endpoint)
            self.access = EmulatorAccess.discover(self.endpoint)
        else:
            self.emulator = Emulator(self.options.aws_port, enforce_iam=self.options.enforce_iam)
            self.emulator.start()
            self.endpoint = self.emulator.endpoint
            self.access = EmulatorAccess(self.endpoint, self.emulator.admin)
        if self.access.enforced:
            self.printer.info("IAM enforced: each function calls AWS with its own role, and only what it allows")
        else:
            self.printer.warning("IAM is not enforced: every call is allowed (roles are created, not checked)")

    def _start_functions(self, factory: ResourceFactory) -> None:
        assert self.topology is not None
        concurrency: dict[str, int] = {}
        for mapping in self.topology.mappings:
            name = mapping.function_name
            concurrency[name] = max(concurrency.get(name, 0), mapping.max_concurrency)
        for route in self.topology.api.routes if self.topology.api else []:
            if route.function_name:
                concurrency[route.function_name] = max(concurrency.get(route.function_name, 0), API_CONCURRENCY)
        for schedule in self.topology.schedules:
            # Asynchronous invocations overlap: a tick does not wait for a slow run of the previous one.
            concurrency[schedule.function_name] = max(concurrency.get(schedule.function_name, 0), ASYNC_CONCURRENCY)
        for name, spec in self.topology.functions.items():
            task_root = self.options.state_dir / "code" / name
            extract_package(factory.packages.get(name, b"PK\x05\x06" + b"\0" * 18), task_root)
            runtime = host_runtime(spec.runtime, self.options.project_dir)
            layers = tuple(factory.layer_trees[arn] for arn in spec.layers)
            setup = FunctionSetup(
                spec, runtime.python, (task_root, *layers, runtime.interface), self.endpoint, self._credentials(spec)
            )
            self.pools[name] = FunctionPool(setup, self.printer, concurrency.get(name, 1))
        # Environments start in parallel: each is a Python process importing boto3, Powertools and pydantic.
        with ThreadPoolExecutor(max_workers=len(self.pools) or 1) as executor:
            list(executor.map(lambda pool: pool.warm(), self.pools.values()))

    def _role(self, function_name: str) -> Credentials:
        """The credentials of the function's role, as Lambda obtains them for its environments and its mappings."""
        assert self.topology is not None
        return self.access.role_credentials(self.topology.functions[function_name].role_arn, function_name)

    def _credentials(self, spec: FunctionSpec) -> EnvironmentCredentials:
        """What each new environment of the function gets, in its variables."""
        return lambda: self._role(spec.name).as_environment()

    def _start_api(self) -> None:
        assert self.topology is not None
        if self.topology.api is None:
            return
        front = ApiFront(self.topology.api, self.pools)
        # The timeline page (/ui) and the gateway's Swagger UI (/swagger), beside the API.
        front.mounts.update(operator_mounts(front.handle, lambda: self.outputs))
        self.api = ApiServer(front, self.options.port)
        self.api.start()

    def _local_outputs(self, outputs: dict[str, Any]) -> dict[str, Any]:
        local = dict(outputs)
        if self.api is not None:
            local["apiUrl"] = f"http://127.0.0.1:{self.api.port}{API_BASE_PATH}"
        local["awsEndpoint"] = self.endpoint
        local["region"] = outputs.get("region") or REGION
        if self.access.admin is not None:
            # The administrator, for the AWS CLI and the operator commands (IAM is enforced).
            local["awsAccessKeyId"] = self.access.admin.access_key_id
            local["awsSecretAccessKey"] = self.access.admin.secret_access_key
        return local

    def run_info(self) -> dict[str, Any]:
        """What tests and tools need to find this process and its function environments."""
        return {
            "pid": os.getpid(),
            "functions": {name: pool.pids for name, pool in self.pools.items()},
            "emulatorEmbedded": self.emulator is not None,
        }

    def curl_lines(self) -> list[str]:
        url = self.outputs.get("apiUrl", "")
        key = self.outputs.get("apiKey")
        auth = f" -H {shlex.quote(f'{API_KEY_HEADER}: {key}')}" if key else ""
        body = shlex.quote('{"taskId": "demo-1", "payload": {"hello": "world"}}')
        root = url.removesuffix(API_BASE_PATH)
        return [
            f"curl -s -X POST {url}/tasks{auth} -d {body}",
            f"curl -s {url}/tasks/demo-1{auth}",
            'eval "$(tasktrail outputs --aws-env)"    # then the AWS CLI reaches the local stack, as its administrator',
            f"aws dynamodb query --table-name {self.outputs.get('auditTableName')} --key-condition-expression "
            '\'taskId = :t\' --expression-attribute-values \'{":t": {"S": "demo-1"}}\'',
            "tasktrail history demo-1    # also: tasktrail list --status DEAD_LETTERED --since 1h; tasktrail ui",
            f"open {root}/ui (timeline) and {root}/swagger (API docs)",
        ]

    def stop(self) -> bool:
        """Stop taking work, let in-flight invocations finish (bounded by the functions' timeouts), end everything."""
        if self.api is not None:
            self.api.stop()
        for source in self.sources:
            source.stop()
        longest = max((p.spec.timeout for p in self.pools.values()), default=0)
        deadline = time.monotonic() + longest + 5
        # Every source drains (no short circuit): one stuck source must not cut the others' in-flight work short.
        drained = [source.drain(deadline) for source in self.sources]
        closers = [threading.Thread(target=pool.close) for pool in self.pools.values()]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join(timeout=10)
        if self.emulator is not None:
            self.emulator.stop()
        state.clear(self.options.state_dir)
        return all(drained)
