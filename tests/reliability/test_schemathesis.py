"""Property-based requests generated from the API's own OpenAPI document (GET /api/v1/swagger?format=json), valid
and invalid ones, against the running local cloud: the API never answers a 5xx."""

from __future__ import annotations

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.e2e.cloud import RunningCloud

# Bounded: a few dozen requests per operation in `make test`, more in `make soak`.
EXAMPLES = 200 if os.environ.get("TASKTRAIL_SOAK_TASKS") else 25


@pytest.fixture(scope="module")
def api_schema(stack: RunningCloud) -> schemathesis.schemas.BaseSchema:
    response = requests.get(f"{stack.api_url}/swagger", params={"format": "json"}, headers=stack.headers, timeout=60)
    assert response.status_code == 200, response.text[:300]
    document = response.json()
    assert document["paths"], "the API describes its routes"
    loaded = schemathesis.openapi.from_dict(document)
    loaded.config.update(base_url=stack.api_url, headers=stack.headers)
    return loaded


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_generated_requests_never_get_a_5xx(
    api_schema: schemathesis.schemas.BaseSchema, stack: RunningCloud, mode: GenerationMode
) -> None:
    # Driven through hypothesis directly rather than schemathesis' pytest plugin, whose fixture loader does not
    # run on this pytest.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.method.upper() for op in operations} >= {"GET", "POST"}
    seen: list[tuple[str, int]] = []
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
            derandomize=True,
            database=None,
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call(base_url=stack.api_url, headers=stack.headers, timeout=60)
            seen.append((case.formatted_path, response.status_code))
            answer = f"{response.status_code} {response.text[:300]}"
            assert response.status_code < 500, f"{case.method} {case.formatted_path} {case.body!r:.300}: {answer}"

        call()
    assert len(seen) >= len(operations), seen
