"""The local cloud serves the routes the program declares: its topology, read back from what the program registers
(an OpenAPI document on the RestApi), has each route with its method, its function and its auth, as API Gateway
would read the same document."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime.mocks import MockResourceArgs

from local.deploy.topology import Registered, build_topology
from tests.infra.harness import RecordingMocks, run_program

ROUTES = {
    ("POST", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks/{taskId}"),
    ("POST", "/api/v1/tasks/{taskId}/redrive"),
    ("GET", "/api/v1/tasks/{taskId}/proof"),
    ("GET", "/api/v1/swagger"),
}


class RegisteringMocks(RecordingMocks):
    """Keeps each resource as the local cloud's mocks do: its type, name, id and state (inputs and outputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.registered: list[Registered] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        resource_id, state = super().new_resource(args)
        if args.typ == "aws:apigateway/restApi:RestApi":
            # What the local cloud's provisioning adds once PutRestApi has made the document's resources.
            state["resourceIds"] = {path: f"res-{n}" for n, (_, path) in enumerate(sorted(ROUTES))}
        self.registered.append(Registered(args.typ, args.name, resource_id, state))
        return resource_id, state


@pytest.mark.parametrize(
    ("overrides", "api_key_required", "authorization"),
    [
        ({}, True, "NONE"),
        ({"apiAuth": "iam"}, False, "AWS_IAM"),
        ({"apiAuth": "none", "allowUnauthenticatedApi": "true"}, False, "NONE"),
    ],
)
def test_the_local_cloud_serves_exactly_the_declared_routes_with_their_auth(
    overrides: dict[str, str], api_key_required: bool, authorization: str
) -> None:
    mocks = RegisteringMocks()
    run = run_program("local", overrides, mocks=mocks)
    api = build_topology(mocks.registered).api
    assert api is not None and api.stage == "prod"
    assert {(route.method, route.resource_path) for route in api.routes} == ROUTES
    for route in api.routes:
        assert route.function_name == run.physical("gateway")
        assert (route.api_key_required, route.authorization) == (api_key_required, authorization)
        assert route.resource_id.startswith("res-")
    assert api.api_keys == (["mock-api-key-value"] if api_key_required else [])
