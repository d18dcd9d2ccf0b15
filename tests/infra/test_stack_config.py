"""The config loader the tests and the local cloud share: defaults, stack file, overrides, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.deploy.stack_config import StackConfigError, load_stack_config
from tests.infra.harness import PROJECT_DIR

PROJECT = """
name: demo
runtime: python
config:
  aws:region:
    value: eu-west-1
  retries:
    type: integer
    default: 2
  strict:
    type: boolean
    default: true
  mode:
    type: string
    default: fast
  undefaulted:
    type: string
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text(PROJECT, encoding="utf-8")
    return tmp_path


def test_defaults_become_strings_in_the_project_namespace(project: Path) -> None:
    assert load_stack_config(project, "dev") == {
        "aws:region": "eu-west-1",
        "demo:retries": "2",
        "demo:strict": "true",
        "demo:mode": "fast",
    }


def test_stack_file_then_overrides_win(project: Path) -> None:
    (project / "Pulumi.dev.yaml").write_text("config:\n  demo:retries: 5\n  strict: false\n  aws:region: us-west-2\n")
    config = load_stack_config(project, "dev", {"mode": "slow", "demo:retries": "7"})
    assert config == {
        "aws:region": "us-west-2",
        "demo:retries": "7",
        "demo:strict": "false",
        "demo:mode": "slow",
    }


def test_secure_values_are_refused_with_their_key(project: Path) -> None:
    (project / "Pulumi.dev.yaml").write_text("config:\n  demo:mode:\n    secure: AAABAC==\n")
    with pytest.raises(StackConfigError, match="demo:mode"):
        load_stack_config(project, "dev")


def test_the_real_local_stack(tmp_path: Path) -> None:
    config = load_stack_config(PROJECT_DIR, "local")
    assert config["aws:region"] == "us-east-1"
    assert config["tasktrail:processingTimeout"] == "5"
    assert config["tasktrail:maxReceiveCount"] == "2"
    assert config["tasktrail:enforceVisibilityRatio"] == "false"
