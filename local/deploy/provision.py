"""Creates each resource the program registers in the emulator, from its own inputs, and returns Pulumi state.

Every creator is idempotent: against an emulator that already holds the stack it finds and updates what is
there, like a second `pulumi up`.
"""

from __future__ import annotations

import base64
import json
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from local.deploy.lambda_host import host_layer
from local.deploy.packaging import zip_archive
from local.emulator.access import EmulatorAccess
from local.emulator.account import ACCOUNT_ID, REGION

State = dict[str, Any]
# The tag that names a KMS key after the program's resource, so that a second `up` finds the key again.
PULUMI_NAME_TAG = "tasktrail:pulumi-name"
Creator = Callable[["ResourceFactory", str, dict[str, Any]], tuple[str, State]]

_QUEUE_ATTRIBUTES = {
    "visibilityTimeoutSeconds": "VisibilityTimeout",
    "messageRetentionSeconds": "MessageRetentionPeriod",
    "redrivePolicy": "RedrivePolicy",
    "redriveAllowPolicy": "RedriveAllowPolicy",
    "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "delaySeconds": "DelaySeconds",
    "maxMessageSize": "MaximumMessageSize",
    "sqsManagedSseEnabled": "SqsManagedSseEnabled",
    "kmsMasterKeyId": "KmsMasterKeyId",
    "policy": "Policy",
    "fifoQueue": "FifoQueue",
    "contentBasedDeduplication": "ContentBasedDeduplication",
}
# Attributes SQS only accepts at creation.
_CREATE_ONLY_QUEUE_ATTRIBUTES = {"FifoQueue"}


def _as_attribute(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    # Pulumi sends every number as a float; AWS wants "30", not "30.0".
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class ResourceFactory:
    """boto3 clients on the emulator and one creator per Pulumi resource type."""

    def __init__(self, access: EmulatorAccess, project_dir: Path) -> None:
        self.project_dir = project_dir
        # Each function's deployment zip, by function name: the local runtime runs exactly this.
        self.packages: dict[str, bytes] = {}
        # Each layer version's packages installed for this machine's CPU, by the layer version's ARN.
        self.layer_trees: dict[str, Path] = {}
        # As `pulumi up` does, with the administrator's credentials; untyped on purpose: every request is built from
        # Pulumi's untyped property bags.
        retries = {"max_attempts": 2, "mode": "standard"}
        self.sqs: Any = access.client("sqs", retries=retries)
        self.dynamodb: Any = access.client("dynamodb", retries=retries)
        self.iam: Any = access.client("iam", retries=retries)
        self.logs: Any = access.client("logs", retries=retries)
        self.lambda_: Any = access.client("lambda", retries=retries)
        self.apigateway: Any = access.client("apigateway", retries=retries)
        self.kms: Any = access.client("kms", retries=retries)
        self.s3: Any = access.client("s3", retries=retries)

    def create(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        creator = _CREATORS.get(typ)
        if creator is None:
            # Alarms, dashboards, method settings...: nothing local runs them, so they only get a stable id.
            return f"{name}-id", {**inputs, "arn": inputs.get("arn") or _arn(typ, name)}
        return creator(self, name, inputs)

    # SQS ----------------------------------------------------------------------------------------------
    def queue(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        queue_name = inputs.get("name") or name
        attributes = {
            attr: _as_attribute(inputs[key])
            for key, attr in _QUEUE_ATTRIBUTES.items()
            if inputs.get(key) is not None and inputs.get(key) != ""
        }
        try:
            url = self.sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
        except ClientError as error:
            if _error_code(error) not in {"QueueAlreadyExists", "QueueNameExists"}:
                raise
            url = self.sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        # A second `up` with other config (e.g. maxReceiveCount) must change the existing queue.
        mutable = {k: v for k, v in attributes.items() if k not in _CREATE_ONLY_QUEUE_ATTRIBUTES}
        if mutable:
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes=mutable)
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, {**inputs, "name": queue_name, "url": url, "arn": arn}

    # DynamoDB -----------------------------------------------------------------------------------------
    def table(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        table_name = inputs.get("name") or name
        try:
            self.dynamodb.create_table(**_table_request(table_name, inputs))
        except ClientError as error:
            if _error_code(error) != "ResourceInUseException":
                raise
        if (inputs.get("pointInTimeRecovery") or {}).get("enabled"):
            self.dynamodb.update_continuous_backups(
                TableName=table_name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        ttl = inputs.get("ttl") or {}
        if ttl.get("enabled") and ttl.get("attributeName"):
            self._ensure_ttl(table_name, ttl["attributeName"])
        table = self.dynamodb.describe_table(TableName=table_name)["Table"]
        if inputs.get("streamEnabled") and not table.get("LatestStreamArn"):
            # A table an earlier `up` created without its stream (a second `pulumi up` adds it in place).
            view = inputs.get("streamViewType") or "NEW_IMAGE"
            self.dynamodb.update_table(
                TableName=table_name, StreamSpecification={"StreamEnabled": True, "StreamViewType": view}
            )
            table = self.dynamodb.describe_table(TableName=table_name)["Table"]
        state = {**inputs, "name": table_name, "arn": table["TableArn"]}
        if table.get("LatestStreamArn"):
            state["streamArn"] = table["LatestStreamArn"]
        return table_name, state

    def _ensure_ttl(self, table_name: str, attribute: str) -> None:
        try:
            self.dynamodb.update_time_to_live(
                TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
            )
        except ClientError as error:
            # Already enabled on a reused table.
            if _error_code(error) != "ValidationException":
                raise

    # IAM and logs -------------------------------------------------------------------------------------
    def role(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        role_name = inputs.get("name") or name
        try:
            role = self.iam.create_role(
                RoleName=role_name,
                AssumeRolePolicyDocument=_as_attribute(inputs["assumeRolePolicy"]),
                Path=inputs.get("path") or "/",
            )["Role"]
        except ClientError as error:
            if _error_code(error) != "EntityAlreadyExists":
                raise
            role = self.iam.get_role(RoleName=role_name)["Role"]
        return role_name, {**inputs, "name": role_name, "arn": role["Arn"], "uniqueId": role["RoleId"]}

    def role_policy(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        policy_name = inputs.get("name") or name
        self.iam.put_role_policy(
            RoleName=inputs["role"], PolicyName=policy_name, PolicyDocument=_as_attribute(inputs["policy"])
        )
        return f"{inputs['role']}:{policy_name}", {**inputs, "name": policy_name}

    def policy(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        policy_name = inputs.get("name") or name
        arn = f"arn:aws:iam::{ACCOUNT_ID}:policy{inputs.get('path') or '/'}{policy_name}"
        try:
            self.iam.create_policy(PolicyName=policy_name, PolicyDocument=_as_attribute(inputs["policy"]))
        except ClientError as error:
            if _error_code(error) != "EntityAlreadyExists":
                raise
        return arn, {**inputs, "name": policy_name, "arn": arn}

    def role_policy_attachment(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        try:
            self.iam.attach_role_policy(RoleName=inputs["role"], PolicyArn=inputs["policyArn"])
        except ClientError as error:
            # AWS managed policies are not loaded in moto; the attachment only matters on AWS.
            if _error_code(error) != "NoSuchEntity":
                raise
        return f"{inputs['role']}-{uuid.uuid5(uuid.NAMESPACE_URL, inputs['policyArn'])}", dict(inputs)

    def log_group(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        group = inputs.get("name") or name
        try:
            self.logs.create_log_group(logGroupName=group)
        except ClientError as error:
            if _error_code(error) != "ResourceAlreadyExistsException":
                raise
        if inputs.get("retentionInDays"):
            self.logs.put_retention_policy(logGroupName=group, retentionInDays=int(inputs["retentionInDays"]))
        return group, {**inputs, "name": group, "arn": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{group}"}

    # Lambda -------------------------------------------------------------------------------------------
    def function(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        function_name = inputs.get("name") or name
        code = zip_archive(inputs["code"], self.project_dir) if inputs.get("code") is not None else b""
        config: dict[str, Any] = {
            "Role": inputs["role"],
            "Handler": inputs.get("handler") or "",
            "Runtime": inputs.get("runtime") or "python3.12",
            "Timeout": int(inputs.get("timeout") or 3),
            "MemorySize": int(inputs.get("memorySize") or 128),
            "Environment": {"Variables": dict((inputs.get("environment") or {}).get("variables") or {})},
            "Layers": [str(layer) for layer in inputs.get("layers") or []],
        }
        try:
            fn = self.lambda_.create_function(FunctionName=function_name, Code={"ZipFile": code}, **config)
        except ClientError as error:
            if _error_code(error) != "ResourceConflictException":
                raise
            self.lambda_.update_function_code(FunctionName=function_name, ZipFile=code)
            fn = self.lambda_.update_function_configuration(FunctionName=function_name, **config)
        arn = fn["FunctionArn"]
        self.packages[function_name] = code
        return function_name, {
            **inputs,
            "name": function_name,
            "arn": arn,
            "qualifiedArn": f"{arn}:$LATEST",
            "version": "$LATEST",
            "invokeArn": invoke_arn(arn),
            "qualifiedInvokeArn": invoke_arn(f"{arn}:$LATEST"),
            "codeSha256": fn.get("CodeSha256", ""),
        }

    def layer_version(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        """Published as the program built it (for Lambda's CPU); the local runtime runs the same lock installed for
        this machine's CPU, checked against the published layer's distributions (local.deploy.lambda_host)."""
        layer_zip = self.project_dir / inputs["code"].path
        self.layer_trees[str(layer_zip)] = host_layer(layer_zip, self.project_dir)
        published = self.lambda_.publish_layer_version(
            LayerName=inputs["layerName"],
            Description=inputs.get("description") or "",
            Content={"ZipFile": layer_zip.read_bytes()},
            CompatibleRuntimes=list(inputs.get("compatibleRuntimes") or []),
            CompatibleArchitectures=list(inputs.get("compatibleArchitectures") or []),
        )
        arn = published["LayerVersionArn"]
        self.layer_trees[arn] = self.layer_trees.pop(str(layer_zip))
        return arn, {
            **inputs,
            "arn": arn,
            "layerArn": published["LayerArn"],
            "version": str(published["Version"]),
            "codeSize": published["Content"].get("CodeSize", 0),
        }

    def event_source_mapping(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        # Not created in moto: moto would invoke the function through Docker. The local pollers run it.
        mapping_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{inputs.get('eventSourceArn')}|{inputs.get('functionName')}"))
        function_arn = _function_arn(str(inputs.get("functionName", "")))
        return mapping_id, {**inputs, "uuid": mapping_id, "functionArn": function_arn, "state": "Enabled"}

    def permission(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        statement = inputs.get("statementId") or name
        return statement, {**inputs, "statementId": statement}

    # KMS --------------------------------------------------------------------------------------------------
    def kms_key(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        # Keys have no names: the program's logical name, as a tag, finds the key again on a second `up`.
        tagged = [{"TagKey": PULUMI_NAME_TAG, "TagValue": name}]
        key_id = next((key for key in self._kms_keys_tagged(name)), None)
        if key_id is None:
            key_id = self.kms.create_key(
                Description=inputs.get("description") or "",
                KeySpec=inputs.get("customerMasterKeySpec") or "SYMMETRIC_DEFAULT",
                KeyUsage=inputs.get("keyUsage") or "ENCRYPT_DECRYPT",
                Tags=tagged,
            )["KeyMetadata"]["KeyId"]
        arn = self.kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
        return key_id, {**inputs, "arn": arn, "keyId": key_id}

    def _kms_keys_tagged(self, name: str) -> list[str]:
        found = []
        for key in self.kms.list_keys()["Keys"]:
            tags = self.kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags", [])
            if {"TagKey": PULUMI_NAME_TAG, "TagValue": name} in tags:
                found.append(key["KeyId"])
        return found

    def public_key(self, key_id: str) -> dict[str, Any]:
        """What aws.kms.getPublicKey answers: the key's public half, DER and PEM."""
        der = self.kms.get_public_key(KeyId=key_id)["PublicKey"]
        pem = "-----BEGIN PUBLIC KEY-----\n" + "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
        pem += "\n-----END PUBLIC KEY-----\n"
        return {"id": key_id, "keyId": key_id, "publicKey": base64.b64encode(der).decode(), "publicKeyPem": pem}

    # S3 -----------------------------------------------------------------------------------------------
    def bucket(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        # Pulumi adds a random suffix to a bucket prefix; here, a stable one, so that a second `up` finds it.
        bucket = inputs.get("bucket") or f"{inputs.get('bucketPrefix') or name}local"
        try:
            self.s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=bool(inputs.get("objectLockEnabled")))
        except ClientError as error:
            if _error_code(error) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise
        return bucket, {**inputs, "bucket": bucket, "arn": f"arn:aws:s3:::{bucket}", "id": bucket}

    def bucket_versioning(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        status = (inputs.get("versioningConfiguration") or {}).get("status") or "Enabled"
        self.s3.put_bucket_versioning(Bucket=inputs["bucket"], VersioningConfiguration={"Status": status})
        return inputs["bucket"], dict(inputs)

    def bucket_object_lock(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        retention = ((inputs.get("rule") or {}).get("defaultRetention")) or {}
        rule = {"Mode": retention.get("mode") or "GOVERNANCE"}
        rule |= {unit.capitalize(): int(retention[unit]) for unit in ("days", "years") if retention.get(unit)}
        wanted = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": rule}}
        try:
            current = self.s3.get_object_lock_configuration(Bucket=inputs["bucket"])["ObjectLockConfiguration"]
            held = current.get("Rule", {}).get("DefaultRetention", {})
            current = {**current, "Rule": {"DefaultRetention": {k: v for k, v in held.items() if v}}}  # no "Years": 0
        except ClientError:
            current = None
        # A second `up` against the same emulator finds the bucket locked already, and digests in it: moto refuses
        # the same configuration on a bucket that is not empty, so an unchanged one is left as it is.
        if current != wanted:
            self.s3.put_object_lock_configuration(Bucket=inputs["bucket"], ObjectLockConfiguration=wanted)
        return inputs["bucket"], dict(inputs)

    def bucket_encryption(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
                    or "AES256"
                }
            }
            for rule in inputs.get("rules") or []
        ]
        self.s3.put_bucket_encryption(Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules})
        return inputs["bucket"], dict(inputs)

    def bucket_public_access_block(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        configuration = {flag[0].upper() + flag[1:]: bool(inputs.get(flag)) for flag in flags}
        self.s3.put_public_access_block(Bucket=inputs["bucket"], PublicAccessBlockConfiguration=configuration)
        return inputs["bucket"], dict(inputs)

    # EventBridge --------------------------------------------------------------------------------------
    def event_rule(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        # Only recorded, with its real ARN shape: local/services/events.py runs its targets.
        rule_name = inputs.get("name") or name
        return rule_name, {**inputs, "name": rule_name, "arn": f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{rule_name}"}

    # API Gateway (REST) -------------------------------------------------------------------------------
    def rest_api(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        api_name = inputs.get("name") or name
        existing = [a for a in self.apigateway.get_rest_apis(limit=500)["items"] if a.get("name") == api_name]
        if existing:
            api = existing[0]
        else:
            request: dict[str, Any] = {"name": api_name}
            if inputs.get("description"):
                request["description"] = inputs["description"]
            if inputs.get("binaryMediaTypes"):
                request["binaryMediaTypes"] = list(inputs["binaryMediaTypes"])
            api = self.apigateway.create_rest_api(**request)
        api_id = api["id"]
        if inputs.get("body"):
            # Declared as an OpenAPI document: the API becomes exactly its routes, as PutRestApi does on AWS.
            self.apigateway.put_rest_api(
                restApiId=api_id,
                mode=inputs.get("putRestApiMode") or "overwrite",
                body=str(inputs["body"]).encode(),
            )
        resources = self.apigateway.get_resources(restApiId=api_id, limit=500)["items"]
        return api_id, {
            **inputs,
            "name": api_name,
            "rootResourceId": next(r["id"] for r in resources if r["path"] == "/"),
            # The id of each resource (path) the document made: a route's proxy events carry it, as on AWS.
            "resourceIds": {r["path"]: r["id"] for r in resources},
            "arn": f"arn:aws:apigateway:{REGION}::/restapis/{api_id}",
            "executionArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{api_id}",
            "createdDate": "",
        }

    def api_resource(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        api_id, parent, part = inputs["restApi"], inputs["parentId"], inputs["pathPart"]
        items = self.apigateway.get_resources(restApiId=api_id, limit=500)["items"]
        found = next((r for r in items if r.get("parentId") == parent and r.get("pathPart") == part), None)
        if found is None:
            found = self.apigateway.create_resource(restApiId=api_id, parentId=parent, pathPart=part)
        return found["id"], {**inputs, "path": found["path"]}

    def api_method(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        api_id, resource_id, method = inputs["restApi"], inputs["resourceId"], inputs["httpMethod"]
        self.apigateway.put_method(
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod=method,
            authorizationType=inputs.get("authorization") or "NONE",
            apiKeyRequired=bool(inputs.get("apiKeyRequired")),
        )
        return f"agm-{api_id}-{resource_id}-{method}", dict(inputs)

    def api_integration(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        api_id, resource_id, method = inputs["restApi"], inputs["resourceId"], inputs["httpMethod"]
        request: dict[str, Any] = {"restApiId": api_id, "resourceId": resource_id, "httpMethod": method}
        request["type"] = inputs.get("type") or "AWS_PROXY"
        if inputs.get("uri"):
            request["uri"] = inputs["uri"]
        if inputs.get("integrationHttpMethod"):
            request["integrationHttpMethod"] = inputs["integrationHttpMethod"]
        self.apigateway.put_integration(**request)
        return f"agi-{api_id}-{resource_id}-{method}", dict(inputs)

    def api_deployment(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        api_id = inputs["restApi"]
        deployment = self.apigateway.create_deployment(restApiId=api_id, description=inputs.get("description") or "")
        return deployment["id"], {
            **inputs,
            "executionArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{api_id}/",
            "invokeUrl": f"https://{api_id}.execute-api.{REGION}.amazonaws.com/",
        }

    def api_stage(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        api_id, stage, deployment = inputs["restApi"], inputs["stageName"], inputs["deployment"]
        try:
            self.apigateway.create_stage(restApiId=api_id, stageName=stage, deploymentId=deployment)
        except ClientError as error:
            if _error_code(error) != "ConflictException":
                raise
            self.apigateway.update_stage(
                restApiId=api_id,
                stageName=stage,
                patchOperations=[{"op": "replace", "path": "/deploymentId", "value": deployment}],
            )
        return f"ags-{api_id}-{stage}", {
            **inputs,
            "arn": f"arn:aws:apigateway:{REGION}::/restapis/{api_id}/stages/{stage}",
            "executionArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{api_id}/{stage}",
            "invokeUrl": f"https://{api_id}.execute-api.{REGION}.amazonaws.com/{stage}",
        }

    def api_key(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        key_name = inputs.get("name") or name
        keys = self.apigateway.get_api_keys(nameQuery=key_name, includeValues=True, limit=500)["items"]
        key = next((k for k in keys if k.get("name") == key_name), None)
        if key is None:
            request: dict[str, Any] = {"name": key_name, "enabled": inputs.get("enabled", True) is not False}
            if inputs.get("value"):
                request["value"] = inputs["value"]
            key = self.apigateway.create_api_key(**request)
        return key["id"], {
            **inputs,
            "name": key_name,
            "value": key["value"],
            "arn": f"arn:aws:apigateway:{REGION}::/apikeys/{key['id']}",
        }

    def usage_plan(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        plan_name = inputs.get("name") or name
        plans = self.apigateway.get_usage_plans(limit=500)["items"]
        plan = next((p for p in plans if p.get("name") == plan_name), None)
        if plan is None:
            stages = [{"apiId": s["apiId"], "stage": s["stage"]} for s in inputs.get("apiStages") or []]
            plan = self.apigateway.create_usage_plan(name=plan_name, apiStages=stages)
        return plan["id"], {
            **inputs,
            "name": plan_name,
            "arn": f"arn:aws:apigateway:{REGION}::/usageplans/{plan['id']}",
        }

    def usage_plan_key(self, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        try:
            self.apigateway.create_usage_plan_key(
                usagePlanId=inputs["usagePlanId"], keyId=inputs["keyId"], keyType=inputs.get("keyType") or "API_KEY"
            )
        except ClientError as error:
            if _error_code(error) != "ConflictException":
                raise
        return inputs["keyId"], dict(inputs)


def _key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def _index_request(gsi: dict[str, Any], throughput: dict[str, int] | None) -> dict[str, Any]:
    index: dict[str, Any] = {
        "IndexName": gsi["name"],
        "KeySchema": (
            [{"AttributeName": k["attributeName"], "KeyType": k["keyType"]} for k in gsi["keySchemas"]]
            if gsi.get("keySchemas")  # pulumi-aws 7's successor to the deprecated hashKey/rangeKey
            else _key_schema(gsi["hashKey"], gsi.get("rangeKey"))
        ),
        "Projection": {"ProjectionType": gsi.get("projectionType") or "ALL"},
    }
    if gsi.get("nonKeyAttributes"):
        index["Projection"]["NonKeyAttributes"] = list(gsi["nonKeyAttributes"])
    if throughput:
        index["ProvisionedThroughput"] = throughput
    return index


def _table_request(table_name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    pay_per_request = (inputs.get("billingMode") or "PROVISIONED") == "PAY_PER_REQUEST"
    request: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": [
            {"AttributeName": a["name"], "AttributeType": a["type"]} for a in inputs["attributes"]
        ],
        "KeySchema": _key_schema(inputs["hashKey"], inputs.get("rangeKey")),
        "BillingMode": "PAY_PER_REQUEST" if pay_per_request else "PROVISIONED",
    }
    throughput = {
        "ReadCapacityUnits": int(inputs.get("readCapacity") or 1),
        "WriteCapacityUnits": int(inputs.get("writeCapacity") or 1),
    }
    if not pay_per_request:
        request["ProvisionedThroughput"] = throughput
    indexes = [
        _index_request(gsi, None if pay_per_request else throughput)
        for gsi in inputs.get("globalSecondaryIndexes") or []
    ]
    if indexes:
        request["GlobalSecondaryIndexes"] = indexes
    sse = inputs.get("serverSideEncryption") or {}
    if sse.get("enabled"):
        request["SSESpecification"] = {"Enabled": True}
    if inputs.get("deletionProtectionEnabled") is not None:
        request["DeletionProtectionEnabled"] = bool(inputs["deletionProtectionEnabled"])
    if inputs.get("streamEnabled"):
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": inputs.get("streamViewType") or "NEW_IMAGE",
        }
    return request


def invoke_arn(function_arn: str) -> str:
    return f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}/invocations"


def _function_arn(name_or_arn: str) -> str:
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name_or_arn}"


def _arn(typ: str, name: str) -> str:
    service = typ.split(":")[1].split("/")[0] if ":" in typ else "local"
    return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{name}"


_CREATORS: dict[str, Creator] = {
    "aws:sqs/queue:Queue": ResourceFactory.queue,
    "aws:dynamodb/table:Table": ResourceFactory.table,
    "aws:iam/role:Role": ResourceFactory.role,
    "aws:iam/rolePolicy:RolePolicy": ResourceFactory.role_policy,
    "aws:iam/policy:Policy": ResourceFactory.policy,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ResourceFactory.role_policy_attachment,
    "aws:cloudwatch/logGroup:LogGroup": ResourceFactory.log_group,
    "aws:lambda/function:Function": ResourceFactory.function,
    "aws:lambda/layerVersion:LayerVersion": ResourceFactory.layer_version,
    "aws:lambda/eventSourceMapping:EventSourceMapping": ResourceFactory.event_source_mapping,
    "aws:lambda/permission:Permission": ResourceFactory.permission,
    "aws:cloudwatch/eventRule:EventRule": ResourceFactory.event_rule,
    "aws:kms/key:Key": ResourceFactory.kms_key,
    "aws:s3/bucket:Bucket": ResourceFactory.bucket,
    "aws:s3/bucketVersioning:BucketVersioning": ResourceFactory.bucket_versioning,
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": ResourceFactory.bucket_object_lock,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        ResourceFactory.bucket_encryption
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ResourceFactory.bucket_public_access_block,
    "aws:apigateway/restApi:RestApi": ResourceFactory.rest_api,
    "aws:apigateway/resource:Resource": ResourceFactory.api_resource,
    "aws:apigateway/method:Method": ResourceFactory.api_method,
    "aws:apigateway/integration:Integration": ResourceFactory.api_integration,
    "aws:apigateway/deployment:Deployment": ResourceFactory.api_deployment,
    "aws:apigateway/stage:Stage": ResourceFactory.api_stage,
    "aws:apigateway/apiKey:ApiKey": ResourceFactory.api_key,
    "aws:apigateway/usagePlan:UsagePlan": ResourceFactory.usage_plan,
    "aws:apigateway/usagePlanKey:UsagePlanKey": ResourceFactory.usage_plan_key,
}


def _queue_attribute_creator(key: str, attribute: str) -> Creator:
    def create(factory: ResourceFactory, name: str, inputs: dict[str, Any]) -> tuple[str, State]:
        factory.sqs.set_queue_attributes(
            QueueUrl=inputs["queueUrl"], Attributes={attribute: _as_attribute(inputs[key])}
        )
        return inputs["queueUrl"], dict(inputs)

    return create


_CREATORS["aws:sqs/redrivePolicy:RedrivePolicy"] = _queue_attribute_creator("redrivePolicy", "RedrivePolicy")
_CREATORS["aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"] = _queue_attribute_creator(
    "redriveAllowPolicy", "RedriveAllowPolicy"
)
_CREATORS["aws:sqs/queuePolicy:QueuePolicy"] = _queue_attribute_creator("policy", "Policy")
