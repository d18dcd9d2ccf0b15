"""What this machine needs to run the functions as Lambda runs them: the runtime's own CPython (3.13 for
python3.13), AWS's runtime interface client, and each layer the program publishes, installed for this machine's CPU
from the very lock the deployed layer was built from, version for version.

Lambda puts /var/task, then the layers (/opt/python), then the runtime (/var/runtime) on sys.path, over the bare
standard library; an execution environment here gets the same: the unpacked deployment package, the host layer, the
runtime interface client, and `python -S`, so that nothing of this machine's site-packages leaks in.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from infra import artifacts
from infra.artifacts import BUILD_DIR, MANIFEST, ArtifactError, build_layer, install_lock, installed_packages

RUNTIME_INTERFACE_LOCK = Path(__file__).with_name("lambda-runtime.lock")
HOST_ARCHITECTURE = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


class HostRuntimeError(RuntimeError):
    """This machine cannot run a function as Lambda would (no such Python, a layer of another lock); the message
    says what to do."""


@dataclass(frozen=True)
class HostRuntime:
    """One Lambda runtime (e.g. python3.13) on this machine: its interpreter and its runtime interface client."""

    name: str
    python: Path
    interface: Path  # the folder holding awslambdaric, as /var/runtime holds Lambda's own


def host_architecture() -> str:
    """This machine's CPU, as Lambda names architectures."""
    return HOST_ARCHITECTURE.get(platform.machine().lower(), platform.machine().lower())


def python_version_of(runtime: str) -> str:
    """python3.13 -> 3.13."""
    if not runtime.startswith("python3."):
        raise HostRuntimeError(f"the local cloud runs Python functions only, not {runtime}")
    return runtime.removeprefix("python")


def find_python(version: str) -> Path:
    """A CPython of exactly `version` (infra.artifacts.find_python: the one that compiles the layer's bytecode)."""
    python = artifacts.find_python(version)
    if python is None:
        raise HostRuntimeError(
            f"the functions run on Python {version} (as Lambda's python{version} does), and none was found: install "
            f"CPython {version} (e.g. `pyenv install {version}`) or set {artifacts.PYTHON_ENV} to its interpreter"
        )
    return python


def host_runtime(runtime: str, project_dir: Path) -> HostRuntime:
    """The interpreter and runtime interface client of `runtime`, the client installed (once) from its lock."""
    version = python_version_of(runtime)
    python = find_python(version)
    lock = RUNTIME_INTERFACE_LOCK
    home = project_dir / BUILD_DIR / "runtimes" / f"{runtime}-{host_architecture()}"
    interface = home / "python"
    stamp = home / "lock.sha256"
    fingerprint = _sha(lock.read_bytes())
    if not (stamp.exists() and stamp.read_text() == fingerprint):
        shutil.rmtree(home, ignore_errors=True)
        try:
            install_lock(lock, interface, host_architecture(), version)
        except ArtifactError as error:
            raise HostRuntimeError(str(error)) from error
        stamp.write_text(fingerprint)
    return HostRuntime(runtime, python, interface)


def host_layer(layer_zip: Path, project_dir: Path) -> Path:
    """The layer `layer_zip` (built for Lambda's CPU) installed for this machine's CPU from the same lock: the folder
    to put on sys.path. HostRuntimeError if the lock has changed since the layer was built, or if this machine's
    build does not hold exactly the deployed layer's distributions and versions."""
    with zipfile.ZipFile(layer_zip) as archive:
        manifest = json.loads(archive.read(f"python/{MANIFEST}"))
    lock = project_dir / manifest["lock"]
    if _sha(lock.read_bytes()) != manifest["lockSha256"]:
        raise HostRuntimeError(f"the layer was built from another {manifest['lock']} than the one in {project_dir}")
    try:
        here = build_layer(lock, host_architecture(), manifest["python"], project_dir / BUILD_DIR)
    except ArtifactError as error:
        raise HostRuntimeError(str(error)) from error
    if installed_packages(here.tree) != manifest["packages"]:
        raise HostRuntimeError(
            f"this machine's build of the layer differs from the deployed one: {installed_packages(here.tree)} "
            f"against {manifest['packages']}"
        )
    return here.tree


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


if __name__ == "__main__":  # `python -m local.deploy.lambda_host python3.13`: the interpreter of a runtime
    import sys

    try:
        print(find_python(python_version_of(sys.argv[1] if len(sys.argv) > 1 else "python3.13")))
    except HostRuntimeError as error:
        sys.exit(f"error: {error}")
