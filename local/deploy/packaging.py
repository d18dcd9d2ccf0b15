"""Deployment packages: the zip `pulumi up` would upload for a function's code archive, and its inverse, the
function's /var/task laid out on disk for the local Lambda runtime."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pulumi


def zip_archive(archive: Any, project_dir: Path) -> bytes:
    """The deployment zip of a Pulumi archive, laid out as `pulumi up` would upload it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        _add_archive(zf, archive, "", project_dir)
    return buffer.getvalue()


def _add_archive(zf: zipfile.ZipFile, archive: Any, prefix: str, project_dir: Path) -> None:
    if isinstance(archive, pulumi.AssetArchive):
        for name, member in archive.assets.items():
            if isinstance(member, pulumi.Archive):
                _add_archive(zf, member, f"{prefix}{name}/", project_dir)
            elif isinstance(member, pulumi.FileAsset):
                zf.write(project_dir / member.path, f"{prefix}{name}")
            elif isinstance(member, pulumi.StringAsset):
                zf.writestr(f"{prefix}{name}", member.text)
    elif isinstance(archive, pulumi.FileArchive):
        root = project_dir / archive.path
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, f"{prefix}{path.relative_to(root).as_posix()}")
    else:
        raise ValueError(f"cannot package {type(archive).__name__} locally: use AssetArchive or FileArchive")


def extract_package(code: bytes, task_root: Path) -> None:
    """Lay out the deployment zip as Lambda's /var/task, so a function imports only what it ships."""
    shutil.rmtree(task_root, ignore_errors=True)
    task_root.mkdir(parents=True)
    with zipfile.ZipFile(io.BytesIO(code)) as zf:
        zf.extractall(task_root)
