"""What the local cloud runs, read from the resources the program registered: functions, mappings, routes and
schedules."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_INVOKE_ARN = re.compile(r"^arn:aws:apigateway:[^:]+:lambda:path/[^/]+/functions/(?P<function>.+)/invocations$")


@dataclass(frozen=True)
class Registered:
    """One resource as the program registered it: its type, logical name, id and state (inputs + outputs)."""

    typ: str
    name: str
    id: str
    state: dict[str, Any]


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function as declared: what the local runtime needs to run it."""

    name: str
    arn: str
    handler: str
    runtime: str
    timeout: int
    memory: int
    environment: dict[str, str]
    log_group: str
    role_arn: str = ""
    layers: tuple[str, ...] = ()  # layer version ARNs, in the order Lambda stacks them


@dataclass(frozen=True)
class MappingSpec:
    """A Lambda event source mapping: the source (by ARN, and the AWS service that ARN names), the function, and
    how records are batched. `queue_url` is the source queue's, for an SQS source."""

    source_arn: str
    service: str
    queue_url: str | None
    function_name: str
    batch_size: int
    batching_window: int
    report_batch_item_failures: bool
    max_concurrency: int
    enabled: bool
    # A stream source's: where reading starts, whether a failed batch is split, how long a record is retried.
    starting_position: str = "LATEST"
    bisect_on_error: bool = False
    maximum_retry_attempts: int = -1  # -1: until the record expires
    maximum_record_age: int = -1  # seconds; -1: the stream's retention


@dataclass(frozen=True)
class RouteSpec:
    """One method of the REST API, and the function its proxy integration invokes."""

    resource_path: str
    resource_id: str
    method: str
    function_name: str | None
    api_key_required: bool
    authorization: str


@dataclass(frozen=True)
class ApiSpec:
    """The REST API: its stage, routes and enabled API keys."""

    id: str
    stage: str
    routes: list[RouteSpec]
    api_keys: list[str]
    binary_media_types: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ScheduleSpec:
    """An EventBridge rule with a schedule expression, and the function one of its targets invokes."""

    rule_name: str
    rule_arn: str
    expression: str
    function_name: str
    enabled: bool


@dataclass(frozen=True)
class Topology:
    """Everything the local cloud runs, read back from what the program registered."""

    functions: dict[str, FunctionSpec]
    mappings: list[MappingSpec]
    api: ApiSpec | None
    queue_urls: dict[str, str]
    schedules: list[ScheduleSpec] = field(default_factory=list)


# Lambda's default for an SQS mapping without a scaling config is far above what one machine can run.
DEFAULT_MAX_CONCURRENCY = 10


def _of_type(resources: list[Registered], typ: str) -> list[Registered]:
    return [r for r in resources if r.typ == typ]


def _functions(resources: list[Registered]) -> dict[str, FunctionSpec]:
    functions = {}
    for r in _of_type(resources, "aws:lambda/function:Function"):
        s = r.state
        logging_config = s.get("loggingConfig") or {}
        functions[s["name"]] = FunctionSpec(
            name=s["name"],
            arn=s["arn"],
            handler=s["handler"],
            runtime=s.get("runtime") or "python3.12",
            timeout=int(s.get("timeout") or 3),
            memory=int(s.get("memorySize") or 128),
            environment={k: str(v) for k, v in ((s.get("environment") or {}).get("variables") or {}).items()},
            log_group=logging_config.get("logGroup") or f"/aws/lambda/{s['name']}",
            role_arn=str(s.get("role") or ""),
            layers=tuple(str(layer) for layer in s.get("layers") or ()),
        )
    return functions


def _function_name(name_or_arn: str, functions: dict[str, FunctionSpec]) -> str:
    for spec in functions.values():
        if name_or_arn in {spec.name, spec.arn, f"{spec.arn}:$LATEST"}:
            return spec.name
    raise ValueError(f"event source mapping targets {name_or_arn!r}, which the program does not define")


def _mappings(
    resources: list[Registered], functions: dict[str, FunctionSpec], queues: dict[str, str]
) -> list[MappingSpec]:
    mappings = []
    for r in _of_type(resources, "aws:lambda/eventSourceMapping:EventSourceMapping"):
        s = r.state
        source = str(s["eventSourceArn"])
        mappings.append(
            MappingSpec(
                source_arn=source,
                service=source.split(":")[2] if source.count(":") >= 5 else "unknown",
                queue_url=queues.get(source),
                function_name=_function_name(s["functionName"], functions),
                batch_size=int(s.get("batchSize") or 10),
                batching_window=int(s.get("maximumBatchingWindowInSeconds") or 0),
                report_batch_item_failures="ReportBatchItemFailures" in (s.get("functionResponseTypes") or []),
                max_concurrency=int(
                    (s.get("scalingConfig") or {}).get("maximumConcurrency") or DEFAULT_MAX_CONCURRENCY
                ),
                enabled=s.get("enabled", True) is not False,
                starting_position=str(s.get("startingPosition") or "LATEST"),
                bisect_on_error=bool(s.get("bisectBatchOnFunctionError")),
                maximum_retry_attempts=int(_or(s.get("maximumRetryAttempts"), -1)),
                maximum_record_age=int(_or(s.get("maximumRecordAgeInSeconds"), -1)),
            )
        )
    return mappings


def _or(value: Any, default: int) -> Any:
    return default if value is None else value


def _resource_paths(resources: list[Registered], api_id: str, root_id: str) -> dict[str, str]:
    parents = {
        r.id: (r.state["parentId"], r.state["pathPart"])
        for r in _of_type(resources, "aws:apigateway/resource:Resource")
        if r.state.get("restApi") == api_id
    }

    def path_of(resource_id: str) -> str:
        if resource_id == root_id:
            return ""
        parent, part = parents[resource_id]
        return f"{path_of(parent)}/{part}"

    paths = {rid: path_of(rid) for rid in parents}
    paths[root_id] = "/"
    return paths


def _target(uri: str, functions: dict[str, FunctionSpec]) -> str | None:
    match = _INVOKE_ARN.match(uri)
    return _function_name(match["function"], functions) if match else None


def _document_routes(api: Registered, functions: dict[str, FunctionSpec]) -> list[RouteSpec]:
    """The routes of an API declared as an OpenAPI document (its `body`), with API Gateway's reading of its security
    requirements: an `apiKey` scheme in a header is the API key; one marked `awsSigv4` is IAM."""
    document = json.loads(api.state["body"])
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    resource_ids = api.state.get("resourceIds") or {}
    routes = []
    for path, operations in (document.get("paths") or {}).items():
        for method, operation in operations.items():
            if method.startswith("x-") or not isinstance(operation, dict):
                continue
            api_key, authorization = _security(operation.get("security", document.get("security")) or [], schemes)
            integration = operation.get("x-amazon-apigateway-integration") or {}
            routes.append(
                RouteSpec(
                    resource_path=path,
                    resource_id=str(resource_ids.get(path, "")),
                    method=method.upper(),
                    function_name=_target(str(integration.get("uri") or ""), functions),
                    api_key_required=api_key,
                    authorization=authorization,
                )
            )
    return routes


def _security(requirements: list[dict[str, Any]], schemes: dict[str, dict[str, Any]]) -> tuple[bool, str]:
    """(API key required, authorization type) of an operation's security requirements."""
    used = [schemes.get(name) or {} for requirement in requirements for name in requirement]
    sigv4 = any(scheme.get("x-amazon-apigateway-authtype") == "awsSigv4" for scheme in used)
    api_key = any(scheme.get("type") == "apiKey" and "x-amazon-apigateway-authtype" not in scheme for scheme in used)
    return api_key, "AWS_IAM" if sigv4 else "NONE"


def _api(resources: list[Registered], functions: dict[str, FunctionSpec]) -> ApiSpec | None:
    apis = _of_type(resources, "aws:apigateway/restApi:RestApi")
    if not apis:
        return None
    api = apis[0]
    routes = _document_routes(api, functions) if api.state.get("body") else _method_routes(api, resources, functions)
    return _api_spec(api, resources, routes)


def _method_routes(api: Registered, resources: list[Registered], functions: dict[str, FunctionSpec]) -> list[RouteSpec]:
    """The routes of an API declared as Resource, Method and Integration resources."""
    paths = _resource_paths(resources, api.id, api.state["rootResourceId"])
    integrations = {
        (r.state["resourceId"], r.state["httpMethod"]): r.state
        for r in _of_type(resources, "aws:apigateway/integration:Integration")
        if r.state.get("restApi") == api.id
    }
    routes = []
    for r in _of_type(resources, "aws:apigateway/method:Method"):
        s = r.state
        if s.get("restApi") != api.id:
            continue
        integration = integrations.get((s["resourceId"], s["httpMethod"])) or {}
        routes.append(
            RouteSpec(
                resource_path=paths[s["resourceId"]],
                resource_id=s["resourceId"],
                method=s["httpMethod"],
                function_name=_target(str(integration.get("uri") or ""), functions),
                api_key_required=bool(s.get("apiKeyRequired")),
                authorization=s.get("authorization") or "NONE",
            )
        )
    return routes


def _api_spec(api: Registered, resources: list[Registered], routes: list[RouteSpec]) -> ApiSpec:
    stages = [
        r.state["stageName"]
        for r in _of_type(resources, "aws:apigateway/stage:Stage")
        if r.state.get("restApi") == api.id
    ]
    keys = [
        r.state["value"]
        for r in _of_type(resources, "aws:apigateway/apiKey:ApiKey")
        if r.state.get("enabled", True) is not False
    ]
    return ApiSpec(
        id=api.id,
        stage=stages[0] if stages else "prod",
        routes=routes,
        api_keys=keys,
        binary_media_types=list(api.state.get("binaryMediaTypes") or []),
    )


def _schedules(resources: list[Registered], functions: dict[str, FunctionSpec]) -> list[ScheduleSpec]:
    rules = {
        r.state.get("name") or r.name: r.state
        for r in _of_type(resources, "aws:cloudwatch/eventRule:EventRule")
        if r.state.get("scheduleExpression")
    }
    schedules = []
    for r in _of_type(resources, "aws:cloudwatch/eventTarget:EventTarget"):
        rule = rules.get(str(r.state.get("rule") or ""))
        if rule is None:
            continue  # a target of an event-pattern rule: nothing local emits those events
        schedules.append(
            ScheduleSpec(
                rule_name=rule["name"],
                rule_arn=rule["arn"],
                expression=rule["scheduleExpression"],
                function_name=_function_name(r.state["arn"], functions),
                # pulumi-aws 7 has `state` (ENABLED, DISABLED, ...); older programs send isEnabled.
                enabled=str(rule.get("state") or "ENABLED").upper() != "DISABLED"
                and rule.get("isEnabled") is not False,
            )
        )
    return schedules


def build_topology(resources: list[Registered]) -> Topology:
    queues = {r.state["arn"]: r.state["url"] for r in _of_type(resources, "aws:sqs/queue:Queue")}
    functions = _functions(resources)
    return Topology(
        functions=functions,
        mappings=_mappings(resources, functions, queues),
        api=_api(resources, functions),
        queue_urls=queues,
        schedules=_schedules(resources, functions),
    )


def describe(topology: Topology) -> str:
    """A short JSON summary, for debugging what was read from the program."""
    return json.dumps(
        {
            "functions": {n: f.handler for n, f in topology.functions.items()},
            "mappings": [m.__dict__ for m in topology.mappings],
            "routes": [f"{r.method} {r.resource_path}" for r in (topology.api.routes if topology.api else [])],
            "schedules": [f"{s.expression} -> {s.function_name}" for s in topology.schedules],
        },
        indent=2,
    )
