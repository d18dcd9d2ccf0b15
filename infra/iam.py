"""IAM policy documents as data, so that every statement is exact and the tests can read them back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi

Statement = dict[str, Any]

# X-Ray's write actions do not support resource-level permissions: "*" is the only resource they accept.
XRAY_WRITE_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")

# The audit table is append-only: nothing may rewrite or remove an event, whatever else a role is granted.
AUDIT_TABLE_FORBIDDEN_ACTIONS = (
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
)


def allow(sid: str, actions: Sequence[str], resources: Sequence[pulumi.Input[str]]) -> Statement:
    """An Allow statement on exact resources."""
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": list(resources)}


def deny(sid: str, actions: Sequence[str], resources: Sequence[pulumi.Input[str]]) -> Statement:
    """An explicit Deny: it wins over any Allow, including one attached later by someone else."""
    return {"Sid": sid, "Effect": "Deny", "Action": sorted(actions), "Resource": list(resources)}


def policy_document(statements: Sequence[Statement]) -> pulumi.Output[str]:
    """A policy document JSON string; resource ARNs may still be Outputs."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def service_trust_policy(service: str) -> str:
    """A role trust policy that lets one AWS service principal assume the role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )
