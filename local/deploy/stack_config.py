"""Builds a stack's config map the way the Pulumi CLI would: project defaults, then the stack file, then overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


class StackConfigError(ValueError):
    """A project or stack file that cannot be turned into a config map."""


def _as_config_string(key: str, value: Any) -> str:
    # The engine hands every config value to the program as a string; typed getters parse them back.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    if isinstance(value, dict) and "secure" in value:
        raise StackConfigError(f"{key}: secure (encrypted) values need the Pulumi CLI to decrypt them")
    return json.dumps(value)


def _qualified(key: str, project: str) -> str:
    # Keys without a namespace belong to the project, as in the CLI.
    return key if ":" in key else f"{project}:{key}"


def _read_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise StackConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_stack_config(project_dir: Path, stack: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Return the `{"<namespace>:<key>": "<value>"}` map a program of this project sees when run as `stack`.

    Precedence, lowest first: Pulumi.yaml (`default` of declared keys, `value` of provider keys such as
    aws:region), Pulumi.<stack>.yaml if it exists, then `overrides` (keys with or without the namespace).
    """
    project_file = _read_yaml(project_dir / "Pulumi.yaml")
    project = str(project_file["name"])
    config: dict[str, str] = {}
    for key, spec in (project_file.get("config") or {}).items():
        if isinstance(spec, dict) and ("default" in spec or "value" in spec):
            config[_qualified(key, project)] = _as_config_string(key, spec.get("value", spec.get("default")))
        elif not isinstance(spec, dict):
            config[_qualified(key, project)] = _as_config_string(key, spec)

    stack_path = project_dir / f"Pulumi.{stack}.yaml"
    if stack_path.exists():
        for key, value in (_read_yaml(stack_path).get("config") or {}).items():
            config[_qualified(key, project)] = _as_config_string(key, value)

    for key, value in (overrides or {}).items():
        config[_qualified(key, project)] = value
    return config
