"""IAM enforcement in the emulator: every request is authenticated and authorised against the caller's policies,
as on AWS (moto's access control, switched on), by an administrator for the local cloud's own set-up calls and the
user's AWS CLI, and by each function's role for the calls its code makes. Narrow patches make moto answer as AWS
does where the local cloud would notice (each with a test that fails without it):

- a denied call of a JSON-protocol service (DynamoDB, SQS, KMS) answers JSON, so that botocore reads
  `AccessDeniedException`, not the bare status code `403` of moto's XML error;
- a trust policy that names only a service principal (Lambda's roles) does not crash moto's AssumeRole check;
- a request without a body (GET and DELETE of the REST-protocol services: Lambda, API Gateway) is signed over an empty
  payload, as botocore signs it, not over moto's parsed query parameters (which refused every such call with
  SignatureDoesNotMatch).

The Lambda service itself assumes a function's role (its trust policy names lambda.amazonaws.com, which no caller
here can be): `assume_role` does that in process, as Lambda does before it starts an environment.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.awsrequest import AWSRequest
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import JsonRESTError, _RESTError
from moto.iam.access_control import IAMPolicyStatement, IAMRequestBase
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from local.emulator.account import ACCOUNT_ID, REGION
from local.emulator.credentials import Credentials

ADMIN_USER = "tasktrail-local-admin"
ADMIN_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
# moto's own error names, as JSON-protocol services name them.
_JSON_CODES = {"AccessDenied": "AccessDeniedException"}
# Lambda refreshes an environment's credentials itself; moto never expires assumed-role keys, so one set serves it.
SESSION_SECONDS = 43_200


def enforce() -> Credentials:
    """Create the administrator (an IAM user allowed everything, with an access key) and turn on moto's access
    control for every later request; the administrator's credentials."""
    backend = iam_backends[ACCOUNT_ID]["aws"]
    if ADMIN_USER not in backend.users:
        backend.create_user(region_name=REGION, user_name=ADMIN_USER)
        backend.put_user_policy(ADMIN_USER, "AdministratorAccess", ADMIN_POLICY)
    key = backend.create_access_key(ADMIN_USER)
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    return Credentials(key.access_key_id, key.secret_access_key)


def relax() -> None:
    """Turn access control off again (moto's default: any credentials do anything)."""
    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")


def enforced() -> bool:
    return settings.INITIAL_NO_AUTH_ACTION_COUNT != float("inf")


def assume_role(role_arn: str, session_name: str) -> Credentials:
    """The role's temporary credentials, as the Lambda service obtains them for a function's environment."""
    role = sts_backends[ACCOUNT_ID]["aws"].assume_role(
        region_name=REGION,
        role_session_name=session_name[:64],
        role_arn=role_arn,
        policy=None,  # type: ignore[arg-type]
        duration=SESSION_SECONDS,
        external_id=None,  # type: ignore[arg-type]
    )
    return Credentials(role.access_key_id, role.secret_access_key, role.session_token)


_authorise = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action
_check_principal = IAMPolicyStatement._check_principal


# Decisions made while enforced, for the figures a test run reports (GET /_local/iam).
decisions = {"authorised": 0, "denied": 0}


def _authorise_answering_json(self: Any, resource: str = "*") -> None:
    try:
        _authorise(self, resource)
        if enforced():
            decisions["authorised"] += 1  # an int's += under the GIL: good enough for a count
    except _RESTError as error:
        decisions["denied"] += 1
        if "json" not in (self.headers.get("Content-Type") or ""):
            raise  # query and XML protocols (IAM, STS, S3) read moto's XML error as AWS's
        answer = JsonRESTError(_JSON_CODES.get(error.error_type, error.error_type), error.message)
        answer.code = error.code
        raise answer from error


def _check_principal_of_services(self: IAMPolicyStatement, principal: str) -> bool:
    expected = self._statement.get("Principal")
    if isinstance(expected, dict) and "AWS" not in expected:
        return False  # a Service or Federated principal is never an IAM caller
    return bool(_check_principal(self, principal))


_aws_request = IAMRequestBase._create_aws_request


def _aws_request_of_the_body_sent(self: IAMRequestBase) -> AWSRequest:
    request = _aws_request(self)
    if not self._body and self._method in {"GET", "HEAD", "DELETE"}:
        request.data = b""  # the payload botocore signed; moto put its parsed query parameters here
    return request


def install() -> None:
    """Apply the patches (idempotent)."""
    IAMRequestBase._create_aws_request = _aws_request_of_the_body_sent  # type: ignore[method-assign]
    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = _authorise_answering_json  # type: ignore[method-assign]
    IAMPolicyStatement._check_principal = _check_principal_of_services  # type: ignore[method-assign]
