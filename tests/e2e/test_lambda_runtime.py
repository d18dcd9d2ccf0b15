"""The local Lambda runtime runs what ships: the runtime's own CPython (3.13), AWS's runtime interface client, the
deployment package and the layer installed from the lock the deployed layer is built from, and nothing else. A
handler that imports something that is not shipped fails at import, as on Lambda; the versions the environments
see are the lock's."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.artifacts import BUILD_DIR, build_layer, locked_packages
from local.deploy.lambda_host import RUNTIME_INTERFACE_LOCK, host_architecture, host_runtime
from local.deploy.topology import FunctionSpec
from local.services.lambda_.runtime import FunctionPool, FunctionSetup, InitError
from local.services.logs import LogPrinter
from tests.e2e.cloud import PROJECT_DIR

RUNTIME = "python3.13"
PROBE = """
import importlib.metadata, sys

def handler(event, context):
    found = importlib.metadata.distributions()
    return {
        "python": "%d.%d" % sys.version_info[:2],
        "site": sys.flags.no_site,
        "writesBytecode": not sys.dont_write_bytecode,
        "path": sys.path,
        "distributions": {d.metadata["Name"].lower().replace("_", "-"): d.version for d in found},
        "requestId": context.aws_request_id,
        "remainingMs": context.get_remaining_time_in_millis(),
    }
"""


@pytest.fixture(scope="module")
def layer_tree() -> Path:
    return build_layer(
        PROJECT_DIR / "handlers/requirements.lock", host_architecture(), "3.13", PROJECT_DIR / BUILD_DIR
    ).tree


def _pool(task_root: Path, layer_tree: Path, handler: str, printer: LogPrinter, timeout: int = 10) -> FunctionPool:
    runtime = host_runtime(RUNTIME, PROJECT_DIR)
    spec = FunctionSpec(
        name="probe",
        arn="arn:aws:lambda:us-east-1:123456789012:function:probe",
        handler=handler,
        runtime=RUNTIME,
        timeout=timeout,
        memory=128,
        environment={},
        log_group="/aws/lambda/probe",
    )
    setup = FunctionSetup(spec, runtime.python, (task_root, layer_tree, runtime.interface), "http://127.0.0.1:9")
    return FunctionPool(setup, printer, max_size=1)


@pytest.fixture
def task_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "task"
    root.mkdir()
    (root / "probe.py").write_text(PROBE)
    yield root


def test_an_environment_sees_only_the_lock_the_runtime_and_the_standard_library(
    task_root: Path, layer_tree: Path
) -> None:
    pool = _pool(task_root, layer_tree, "probe.handler", LogPrinter(io.StringIO(), colour=False))
    try:
        result = pool.invoke({})
    finally:
        pool.close()
    assert result.ok, result.error
    seen: dict[str, Any] = result.payload
    assert seen["python"] == "3.13" and seen["site"] == 1
    # /var/task and /opt are read-only on Lambda: nothing an environment compiles is kept, here neither.
    assert not seen["writesBytecode"] and not list(task_root.rglob("__pycache__"))
    runtime_client = locked_packages(RUNTIME_INTERFACE_LOCK)
    # Exactly the deployed layer's distributions, at the lock's versions, beside the runtime interface client.
    assert seen["distributions"] == {**locked_packages(), **runtime_client}
    assert seen["path"][:3] == [str(task_root), str(layer_tree), str(host_runtime(RUNTIME, PROJECT_DIR).interface)]
    assert not any("site-packages" in entry for entry in seen["path"])
    assert seen["requestId"] and 0 < seen["remainingMs"] <= 10_000


# boto3 too: Lambda's runtime has one of its own, of a version AWS does not publish; the handlers use the layer's
# botocore, and this keeps an import of boto3 from creeping in unseen (README, "What ships is what runs here").
@pytest.mark.parametrize("module", ["yaml", "moto", "pytest", "requests", "boto3"])
def test_a_handler_that_imports_what_is_not_shipped_fails_at_import(
    task_root: Path, layer_tree: Path, module: str
) -> None:
    (task_root / "leaky.py").write_text(f"import {module}\n\ndef handler(event, context):\n    return 'unreachable'\n")
    pool = _pool(task_root, layer_tree, "leaky.handler", LogPrinter(io.StringIO(), colour=False))
    try:
        with pytest.raises(
            InitError, match=rf"Runtime.ImportModuleError: Unable to import module 'leaky': No module named '{module}'"
        ):
            pool.warm()
    finally:
        pool.close()


@pytest.mark.parametrize("function", ["gateway", "processing", "dlq", "sweeper"])
def test_every_function_of_the_project_imports_on_what_ships(tmp_path: Path, layer_tree: Path, function: str) -> None:
    # Its entry point and what its first invocation imports (the lazy imports), on the locked Powertools: an argument
    # Powertools lacks (BatchProcessor(logger=...) before 3.30) fails here, not on Lambda.
    task_root = tmp_path / "task"
    shutil.copytree(PROJECT_DIR / "handlers", task_root / "handlers", ignore=shutil.ignore_patterns("__pycache__"))
    (task_root / "first_call.py").write_text(
        f"import handlers.{function}\n"
        "import handlers.api.routes, handlers.logic.processing, handlers.logic.dead_letter, handlers.logic.sweep\n"
        "def handler(event, context):\n    return 'imported'\n"
    )
    pool = _pool(task_root, layer_tree, "first_call.handler", LogPrinter(io.StringIO(), colour=False))
    try:
        assert pool.invoke({}).payload == "imported"
    finally:
        pool.close()


def test_the_host_layer_carries_the_deployed_layers_bytecode(layer_tree: Path) -> None:
    # Built for this machine's CPU from the same lock, compiled by the same Python as from /opt/python: the pure
    # Python modules' bytecode is the deployed layer's, byte for byte, so the local functions load what Lambda loads.
    deployed = build_layer(PROJECT_DIR / "handlers/requirements.lock", "arm64", "3.13", PROJECT_DIR / BUILD_DIR).tree
    assert deployed != layer_tree
    compiled = sorted(path.relative_to(deployed) for path in deployed.rglob("*.cpython-313.pyc"))
    assert compiled and compiled == sorted(path.relative_to(layer_tree) for path in layer_tree.rglob("*.pyc"))
    assert all((deployed / pyc).read_bytes() == (layer_tree / pyc).read_bytes() for pyc in compiled)


def test_a_timeout_ends_the_invocation_and_its_environment(task_root: Path, layer_tree: Path) -> None:
    (task_root / "sleepy.py").write_text("import time\n\ndef handler(event, context):\n    time.sleep(30)\n")
    pool = _pool(task_root, layer_tree, "sleepy.handler", LogPrinter(io.StringIO(), colour=False), timeout=1)
    try:
        result = pool.invoke({})
        assert not result.ok and result.error and result.error["errorType"] == "Sandbox.Timedout"
        assert pool.pids == []  # the environment was stopped, as Lambda stops it
    finally:
        pool.close()
