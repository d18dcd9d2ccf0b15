"""The REST API: a small route table under /api/v1, each route proxied to the gateway function."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from infra.iam import service_trust_policy

ApiAuth = Literal["apiKey", "iam", "none"]

STAGE_NAME = "prod"
BASE_PATH = ("api", "v1")
# API Gateway needs this account-wide role to write any CloudWatch log; the AWS-managed policy is the one AWS
# documents for it, because the role serves every API of the account and region, not only this stack's.
PUSH_TO_CLOUDWATCH_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
# One JSON line per request; no headers, so no API key or SigV4 material reaches the logs.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "extendedRequestId": "$context.extendedRequestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "path": "$context.path",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationStatus": "$context.integration.status",
        "integrationError": "$context.integration.error",
        "apiKeyId": "$context.identity.apiKeyId",
        "xrayTraceId": "$context.xrayTraceId",
    },
    separators=(",", ":"),
)


@dataclass(frozen=True)
class Route:
    """One method on one path below /api/v1; `{name}` parts are path parameters."""

    method: str
    path: tuple[str, ...]

    @property
    def source_arn_path(self) -> str:
        """The path as it appears in an execute-api ARN: path parameters become `*`."""
        return "/".join("*" if part.startswith("{") else part for part in (*BASE_PATH, *self.path))


# Add a route here and everything follows: resources, method, integration, invoke permission, redeployment.
ROUTES: tuple[Route, ...] = (
    Route("POST", ("tasks",)),
    Route("GET", ("tasks", "{taskId}")),
)


@dataclass(frozen=True)
class TaskApiArgs:
    """Inputs of the API: the function behind it, auth, throttling, logging."""

    name_prefix: str
    function_name: pulumi.Input[str]
    invoke_arn: pulumi.Input[str]
    auth: ApiAuth
    throttle_rate: int
    throttle_burst: int
    log_retention_days: int
    manage_account: bool
    routes: tuple[Route, ...] = field(default=ROUTES)


def _logical(parts: tuple[str, ...]) -> str:
    return "-".join(f"param-{part.strip('{}')}" if part.startswith("{") else part for part in parts)


def deployment_fingerprint(routes: tuple[Route, ...], auth: ApiAuth) -> str:
    """A digest of what a deployment snapshots; the Deployment is replaced whenever it changes."""
    # Any change to what a deployment snapshots (routes, auth) must produce a new deployment.
    spec = json.dumps({"routes": [[route.method, *route.path] for route in routes], "auth": auth})
    return hashlib.sha256(spec.encode()).hexdigest()


class TaskApi(pulumi.ComponentResource):
    """A regional REST API with auth on every method, stage throttling, access logs and X-Ray."""

    rest_api: aws.apigateway.RestApi
    stage: aws.apigateway.Stage
    url: pulumi.Output[str]
    api_key: pulumi.Output[str] | None

    def __init__(self, name: str, args: TaskApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tasktrail:index:TaskApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.rest_api = aws.apigateway.RestApi(
            f"{name}-rest-api",
            name=f"{args.name_prefix}-api",
            description="tasktrail: submit tasks and read their audit history",
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(types="REGIONAL"),
            opts=child,
        )
        resources: dict[tuple[str, ...], aws.apigateway.Resource] = {}
        route_resources: list[pulumi.Resource] = []
        for route in args.routes:
            resource_id = self._resource_for(name, (*BASE_PATH, *route.path), resources)
            route_resources.extend(self._route(name, args, route, resource_id))

        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.rest_api.id,
            description="tasktrail routes",
            triggers={"routes": deployment_fingerprint(args.routes, args.auth)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=route_resources),
        )
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{args.name_prefix}-api/access",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        self.stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=self.rest_api.id,
            deployment=deployment.id,
            stage_name=STAGE_NAME,
            xray_tracing_enabled=True,
            access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
                destination_arn=access_logs.arn, format=ACCESS_LOG_FORMAT
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._account(name, args)),
        )
        aws.apigateway.MethodSettings(
            f"{name}-method-settings",
            rest_api=self.rest_api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings=aws.apigateway.MethodSettingsSettingsArgs(
                throttling_rate_limit=float(args.throttle_rate),
                throttling_burst_limit=args.throttle_burst,
                metrics_enabled=True,
            ),
            opts=child,
        )

        self.api_key = self._api_key(name, args) if args.auth == "apiKey" else None
        self.url = pulumi.Output.concat(self.stage.invoke_url, "/", "/".join(BASE_PATH))
        self.register_outputs({"url": self.url})

    def _resource_for(
        self, name: str, parts: tuple[str, ...], resources: dict[tuple[str, ...], aws.apigateway.Resource]
    ) -> pulumi.Output[str]:
        """The id of the resource at `parts`, creating it and any missing parents."""
        if not parts:
            return self.rest_api.root_resource_id
        if parts not in resources:
            resources[parts] = aws.apigateway.Resource(
                f"{name}-resource-{_logical(parts)}",
                rest_api=self.rest_api.id,
                parent_id=self._resource_for(name, parts[:-1], resources),
                path_part=parts[-1],
                opts=pulumi.ResourceOptions(parent=self),
            )
        return resources[parts].id

    def _route(
        self, name: str, args: TaskApiArgs, route: Route, resource_id: pulumi.Output[str]
    ) -> list[pulumi.Resource]:
        """Method, proxy integration and invoke permission of one route."""
        logical = f"{name}-{route.method.lower()}-{_logical(route.path)}"
        child = pulumi.ResourceOptions(parent=self)
        parameters = {f"method.request.path.{part.strip('{}')}": True for part in route.path if part.startswith("{")}
        method = aws.apigateway.Method(
            f"{logical}-method",
            rest_api=self.rest_api.id,
            resource_id=resource_id,
            http_method=route.method,
            authorization="AWS_IAM" if args.auth == "iam" else "NONE",
            api_key_required=args.auth == "apiKey",
            request_parameters=parameters or None,
            opts=child,
        )
        integration = aws.apigateway.Integration(
            f"{logical}-integration",
            rest_api=self.rest_api.id,
            resource_id=resource_id,
            http_method=method.http_method,
            # Lambda is always invoked with POST, whatever the client's method.
            integration_http_method="POST",
            type="AWS_PROXY",
            uri=args.invoke_arn,
            opts=child,
        )
        aws.lambda_.Permission(
            f"{logical}-invoke",
            action="lambda:InvokeFunction",
            function=args.function_name,
            principal="apigateway.amazonaws.com",
            # This API, this stage, this method and path only.
            source_arn=pulumi.Output.concat(
                self.rest_api.execution_arn, f"/{STAGE_NAME}/{route.method}/{route.source_arn_path}"
            ),
            opts=child,
        )
        return [method, integration]

    def _account(self, name: str, args: TaskApiArgs) -> list[pulumi.Resource]:
        """The region's API Gateway CloudWatch role, without which a stage with access logs is refused."""
        if not args.manage_account:
            return []
        role = aws.iam.Role(
            f"{name}-cloudwatch-role",
            name=f"{args.name_prefix}-apigateway-cloudwatch",
            assume_role_policy=service_trust_policy("apigateway.amazonaws.com"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-cloudwatch-role-policy",
            role=role.name,
            policy_arn=PUSH_TO_CLOUDWATCH_POLICY_ARN,
            opts=pulumi.ResourceOptions(parent=self),
        )
        account = aws.apigateway.Account(
            f"{name}-account",
            cloudwatch_role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
        )
        return [account]

    def _api_key(self, name: str, args: TaskApiArgs) -> pulumi.Output[str]:
        """An API key in a usage plan on the stage; its value is returned as a secret."""
        child = pulumi.ResourceOptions(parent=self)
        key = aws.apigateway.ApiKey(f"{name}-key", name=f"{args.name_prefix}-key", enabled=True, opts=child)
        plan = aws.apigateway.UsagePlan(
            f"{name}-usage-plan",
            name=f"{args.name_prefix}-usage-plan",
            api_stages=[aws.apigateway.UsagePlanApiStageArgs(api_id=self.rest_api.id, stage=self.stage.stage_name)],
            throttle_settings=aws.apigateway.UsagePlanThrottleSettingsArgs(
                rate_limit=float(args.throttle_rate), burst_limit=args.throttle_burst
            ),
            opts=child,
        )
        aws.apigateway.UsagePlanKey(
            f"{name}-usage-plan-key", key_id=key.id, key_type="API_KEY", usage_plan_id=plan.id, opts=child
        )
        return pulumi.Output.secret(key.value)
