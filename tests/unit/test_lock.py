"""Every environment that runs handler code runs the locked versions: the tests here (venv-lambda/ on Python 3.13,
or the project's venv), the local cloud's functions (tests/e2e/test_lambda_runtime.py) and the deployed layer
(tests/infra/test_functions.py)."""

from __future__ import annotations

import importlib.metadata

from infra.artifacts import locked_packages


def test_the_packages_the_handlers_import_here_are_the_locked_ones() -> None:
    installed = {
        dist.metadata["Name"].lower().replace("_", "-"): dist.version for dist in importlib.metadata.distributions()
    }
    drift = {
        name: (version, installed.get(name))
        for name, version in locked_packages().items()
        if installed.get(name) != version
    }
    assert not drift, f"(locked, installed) differ: {drift}"


def test_the_lock_pins_every_package_with_hashes() -> None:
    from infra.artifacts import LOCK_FILE

    text = LOCK_FILE.read_text(encoding="utf-8")
    pins = locked_packages()
    assert {"aws-lambda-powertools", "pydantic", "pydantic-core", "botocore", "aws-xray-sdk"} <= set(pins)
    assert text.count("==") == len(pins) and text.count("--hash=sha256:") >= 2 * len(pins)
