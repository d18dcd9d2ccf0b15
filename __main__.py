"""Deploys tasktrail: an HTTP API that queues tasks for Lambda workers, with an append-only audit trail per task."""

import pulumi

from infra.artifacts import build_layer, function_code
from infra.functions import ARCHITECTURE, RUNTIME
from infra.naming import name_prefix
from infra.pipeline import TaskPipeline, TaskPipelineArgs
from infra.settings import load_settings

# Validated first: a stack name that would make any physical name invalid, or a bad combination of settings, stops
# the program before any resource is declared.
prefix = name_prefix(pulumi.get_project(), pulumi.get_stack())
settings = load_settings(pulumi.Config(), pulumi.Config("aws"))

pipeline = TaskPipeline(
    "tasktrail",
    TaskPipelineArgs(
        settings=settings,
        name_prefix=prefix,
        # The deployment package is handlers/'s source and its bytecode, under handlers/ so that its absolute imports
        # resolve; its dependencies are the lock's packages, built into a layer for the functions' Python and CPU.
        code=function_code(python_version=RUNTIME.removeprefix("python")),
        dependencies=build_layer(architecture=ARCHITECTURE, python_version=RUNTIME.removeprefix("python")),
    ),
)

pulumi.export("apiUrl", pipeline.api_url)
pulumi.export("auditTableName", pipeline.audit_table_name)
pulumi.export("processingQueueUrl", pipeline.processing_queue_url)
pulumi.export("deadLetterQueueUrl", pipeline.dead_letter_queue_url)
pulumi.export("gatewayFunctionName", pipeline.gateway_function_name)
pulumi.export("processingFunctionName", pipeline.processing_function_name)
pulumi.export("dlqFunctionName", pipeline.dlq_function_name)
pulumi.export("sweeperFunctionName", pipeline.sweeper_function_name)
pulumi.export("digestFunctionName", pipeline.digest_function_name)
# The audit trail's proof: where the signed digests are, and the public key that verifies them offline.
pulumi.export("digestBucket", pipeline.digest_bucket)
pulumi.export("digestPublicKey", pipeline.digest_public_key)
pulumi.export("digestSigningKeyArn", pipeline.digest_signing_key_arn)
pulumi.export("eventMacKeyArn", pipeline.event_mac_key_arn)
pulumi.export("dashboardUrl", pipeline.dashboard_url)
pulumi.export("region", settings.region)
# How callers authenticate (apiKey, iam or none): `tasktrail ui` adds the key or signs its requests accordingly.
pulumi.export("apiAuth", settings.api_auth)
if pipeline.api_key is not None:
    pulumi.export("apiKey", pipeline.api_key)
