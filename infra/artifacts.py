"""The two artefacts every function ships, built deterministically: the deployment package (handlers/'s Python
source) and the dependency layer (the locked packages, installed for the function's Python and architecture, with
their bytecode compiled for that Python).

The same builders serve `pulumi up` and the local cloud, which installs the same lock for this machine's
architecture: what ships is what the tests and the local cloud ran, version for version.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pulumi

# The project's one lock of the functions' runtime dependencies (regenerate with `make lock`).
LOCK_FILE = Path("handlers/requirements.lock")
# Where built artefacts are kept between runs, by content: a second `pulumi up` with the same lock reuses its layer.
BUILD_DIR = Path(".tasktrail-build")
# Lambda's python3.13 runs on Amazon Linux 2023 (glibc 2.34): every manylinux wheel up to 2_34 loads there. pip
# matches --platform tags literally, so each one is named (aws-lambda-builders lists the same ones).
MANYLINUX_TAGS = ("manylinux2014", "manylinux_2_17", "manylinux_2_28", "manylinux_2_34")
# Lambda's and the machines' names of a CPU architecture.
MACHINE = {"arm64": "aarch64", "x86_64": "x86_64"}
MANIFEST = "tasktrail-layer.json"
# Bumped whenever the layout of a built layer changes, so that cached layers of an older builder are not reused.
BUILDER_VERSION = 3
# A CPython of the functions' version, when none is found by name (e.g. /usr/bin/python3.13): it compiles the
# layer's bytecode here, and the local cloud runs the functions on it.
PYTHON_ENV = "TASKTRAIL_LAMBDA_PYTHON"
# Where Lambda puts a layer's python/ folder and the deployment package: the paths compiled into their bytecode,
# which tracebacks show.
LAYER_PATH = "/opt/python"
TASK_ROOT = "/var/task"
# Zip entries get one fixed time and mode: the archive's bytes depend on its files' names and contents only.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class ArtifactError(RuntimeError):
    """An artefact could not be built (no network for the wheels, a wheel that does not match the lock, ...)."""


def function_code(
    root: Path = Path("handlers"),
    python_version: str | None = None,
    build_dir: Path = BUILD_DIR,
    python: Path | None = None,
) -> "pulumi.AssetArchive":
    """The deployment package: every .py file under handlers/, by its path, and, for `python_version`, their
    bytecode (hash-checked, compiled by `python` or a CPython of that version found here, as /var/task/...); nothing
    else (no stray __pycache__ of this machine's Python, no lock, no stray files), so that its hash changes only
    when the code does (Pulumi hashes an archive's names and contents, not their times). With no such Python, the
    sources alone (build_layer's Layer.bytecode says so, and the program warns)."""
    import pulumi  # here: the builders below also serve machines without Pulumi (the local runtime, the tests)

    sources = {path.as_posix(): path for path in sorted(root.rglob("*.py")) if _shipped(path)}
    files = dict(sources)
    python = python or (find_python(python_version) if python_version else None)
    if python_version and python:
        compiled = _package_bytecode(
            [path.relative_to(root.parent) for path in sources.values()], root.parent, python_version, python, build_dir
        )
        files |= {(root.parent / name).as_posix(): pyc for name, pyc in compiled.items()}
    return pulumi.AssetArchive({name: pulumi.FileAsset(str(path)) for name, path in sorted(files.items())})


def _package_bytecode(
    sources: list[Path], base: Path, python_version: str, python: Path, build_dir: Path
) -> dict[Path, Path]:
    """{package-relative .pyc name: the compiled file} of `sources` (relative to `base`), compiled once per content
    into build_dir: /var/task is read-only on Lambda, like /opt."""
    digest = hashlib.sha256(f"{BUILDER_VERSION}|{python_version}".encode())
    for name in sources:
        digest.update(b"\0" + name.as_posix().encode() + b"\0" + (base / name).read_bytes())
    home = build_dir / "packages" / f"py{python_version}-{digest.hexdigest()[:16]}"
    if not home.exists():
        home.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{home.name}.", dir=home.parent))
        for name in sources:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(base / name, staging / name)
        compile_bytecode(staging, python, TASK_ROOT)
        for name in sources:
            (staging / name).unlink()
        try:
            staging.rename(home)  # atomic, as for a layer
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return {pyc.relative_to(home): pyc for pyc in sorted(home.rglob("*.pyc"))}


def _shipped(path: Path) -> bool:
    return "__pycache__" not in path.parts and path.is_file()


@dataclass(frozen=True)
class Layer:
    """A dependency layer built from the lock: its zip (whose top folder is `python/`, as Lambda expects), the
    installed tree beside it, the distributions it holds, by name and version, and whether it carries their
    bytecode for its Python."""

    zip_path: Path
    tree: Path
    packages: dict[str, str]
    lock_sha256: str
    architecture: str
    python_version: str
    bytecode: bool


def build_layer(
    lock: Path = LOCK_FILE,
    architecture: str = "arm64",
    python_version: str = "3.13",
    build_dir: Path = BUILD_DIR,
    python: Path | None = None,
) -> Layer:
    """Install every locked wheel, hash-checked and binary only, for `python_version` on manylinux `architecture`,
    compile their bytecode with `python` (by default a CPython of that version found here: find_python), into a
    deterministic zip; reuse an earlier build of the same lock, architecture and Python.

    Lambda's /opt is read-only, so a module without bytecode for the runtime's Python is compiled on every cold
    start, and the result thrown away: that doubled a cold request. With no such Python here the layer is built
    without bytecode (`bytecode` False), and works, slowly."""
    python = python or find_python(python_version)
    lock_bytes = lock.read_bytes()
    lock_sha = hashlib.sha256(lock_bytes).hexdigest()
    compiled = "bytecode" if python else "source"
    fingerprint = f"{BUILDER_VERSION}|{lock_sha}|{architecture}|{python_version}|{compiled}"
    key = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    home = build_dir / "layers" / f"{architecture}-py{python_version}-{key}"
    zip_path, tree = home / "layer.zip", home / "python"
    if zip_path.exists() and (tree / MANIFEST).exists():
        return _layer(zip_path, tree)
    shutil.rmtree(home, ignore_errors=True)
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{home.name}.", dir=home.parent))
    install_lock(lock, staging / "python", architecture, python_version)
    if python:
        compile_bytecode(staging / "python", python, LAYER_PATH)
    manifest = {
        # As the project names it (handlers/requirements.lock), however the caller spelt the path: the manifest is
        # in the zip, whose bytes must not depend on where the project was checked out.
        "lock": f"{lock.parent.name}/{lock.name}",
        "lockSha256": lock_sha,
        "architecture": architecture,
        "python": python_version,
        "bytecode": bool(python),
        "packages": installed_packages(staging / "python"),
    }
    (staging / "python" / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    deterministic_zip(staging, staging / "layer.zip")
    try:
        staging.rename(home)  # atomic: a build cut short leaves no half layer to be reused
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another run built the same layer meanwhile
    return _layer(zip_path, tree)


def _layer(zip_path: Path, tree: Path) -> Layer:
    manifest = json.loads((tree / MANIFEST).read_text(encoding="utf-8"))
    return Layer(
        zip_path,
        tree,
        manifest["packages"],
        manifest["lockSha256"],
        manifest["architecture"],
        manifest["python"],
        manifest["bytecode"],
    )


def find_python(version: str) -> Path | None:
    """A CPython of exactly `version`: $TASKTRAIL_LAMBDA_PYTHON, the one running, pyenv's, or python<version> on
    PATH; None if there is none."""
    candidates: list[Path] = []
    if os.environ.get(PYTHON_ENV):
        candidates.append(Path(os.environ[PYTHON_ENV]))
    if "%d.%d" % sys.version_info[:2] == version and sys.implementation.name == "cpython":
        candidates.append(Path(sys.executable))
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"), reverse=True)
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(Path(on_path))
    return next((candidate for candidate in candidates if _is_version(candidate, version)), None)


def _is_version(python: Path, version: str) -> bool:
    try:
        done = subprocess.run(  # noqa: S603 - an interpreter path checked for its version
            [str(python), "-c", "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return done.returncode == 0 and done.stdout.split() == ["cpython", version]


def compile_bytecode(tree: Path, python: Path, mount: str) -> None:
    """Compile every module under `tree` with `python`, as it will be imported from `mount` (the path its code
    objects and tracebacks name). Hash-based .pyc (PEP 552): checked against the source's hash, not its time, so
    that the same sources always give the same bytes, and the zip's fixed times cannot make them look stale."""
    command = [
        str(python),
        "-m",
        "compileall",
        "-q",
        "--invalidation-mode",
        "checked-hash",
        "-j",
        "0",
        "-s",
        str(tree),
        "-p",
        mount,
        str(tree),
    ]
    # A fixed hash seed, in case a Python's marshal writes a set in iteration order (string hashing randomises it).
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603 - argv built here
    if done.returncode != 0:
        raise ArtifactError(f"could not compile {tree} with {python}:\n{done.stdout}{done.stderr}")


def install_lock(lock: Path, target: Path, architecture: str, python_version: str) -> None:
    """Install every wheel a hashed lock pins, binary only and hash-checked, for CPython `python_version` on
    manylinux `architecture`, into `target` (pip's --target: a folder to put on sys.path). pip's own configuration
    (a mirror, a proxy) is honoured: the lock's hashes, not the index, say which bytes are installed."""
    machine = MACHINE[architecture]
    abi = "cp" + python_version.replace(".", "")
    platforms = [arg for tag in MANYLINUX_TAGS for arg in ("--platform", f"{tag}_{machine}")]
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--only-binary=:all:",
        "--no-deps",
        "--require-hashes",
        "--no-compile",
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "--abi",
        abi,
        *platforms,
        "-r",
        str(lock),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - pip, argv built here
    if done.returncode != 0:
        raise ArtifactError(f"could not install {lock} for {architecture} Python {python_version}:\n{done.stderr}")
    # Console scripts carry this machine's interpreter in their shebang, and nothing imports them.
    shutil.rmtree(target / "bin", ignore_errors=True)


def installed_packages(tree: Path) -> dict[str, str]:
    """{distribution: version} of the *.dist-info folders in an installed tree, names normalised as pip's."""
    found = {}
    for info in tree.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        found[_normalise(name)] = version
    return dict(sorted(found.items()))


def locked_packages(lock: Path = LOCK_FILE) -> dict[str, str]:
    """{distribution: version} pinned by a lock (`name==version` lines)."""
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, _, rest = line.partition("==")
            pins[_normalise(name.split("[")[0])] = rest.split()[0].rstrip("\\").strip()
    return dict(sorted(pins.items()))


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def deterministic_zip(root: Path, destination: Path) -> None:
    """Zip every file under `root` (paths relative to it), sorted, with one fixed time and mode per entry: the same
    files always give the same bytes."""
    files = sorted(path for path in root.rglob("*") if path.is_file() and path != destination)
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), ZIP_TIME)
            info.create_system = 3  # unix, so that the mode below is read
            executable = os.access(path, os.X_OK)
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
