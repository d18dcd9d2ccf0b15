"""The emulator's own endpoints under /_local (127.0.0.1 only), for the local cloud's machinery, never for functions:

- `GET /_local/admin`: whether IAM is enforced, and the administrator's credentials (the local cloud's set-up calls
  and the user's AWS CLI use them), so that `tasktrail up --endpoint-url` can drive an emulator it did not start;
- `POST /_local/assume-role` `{"roleArn", "sessionName"}`: a role's credentials, as the Lambda service obtains
  them for a function's environment and for its event source mappings;
- `GET /_local/iam`: whether IAM is enforced, and how many calls it authorised and denied so far;
- `GET|DELETE /_local/stats`: the benches' request counters (TASKTRAIL_LOCAL_STATS=1).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from local.emulator import iam, stats
from local.emulator.credentials import Credentials

PREFIX = "/_local/"
StartResponse = Callable[..., Any]


def handle(environ: dict[str, Any], start_response: StartResponse, admin: Credentials | None) -> Iterable[bytes]:
    """Answer one /_local request."""
    path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
    if path == stats.PATH and stats.ENABLED:
        if method == "DELETE":
            stats.reset()
        return _json(start_response, "200 OK", stats.snapshot())
    if path == f"{PREFIX}admin" and method == "GET":
        document: dict[str, Any] = {"iamEnforced": admin is not None}
        if admin is not None:
            document |= {"accessKeyId": admin.access_key_id, "secretAccessKey": admin.secret_access_key}
        return _json(start_response, "200 OK", document)
    if path == f"{PREFIX}iam" and method == "GET":
        return _json(start_response, "200 OK", {"enforced": iam.enforced(), **iam.decisions})
    if path == f"{PREFIX}assume-role" and method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}")
        credentials = iam.assume_role(str(request["roleArn"]), str(request.get("sessionName") or "local"))
        return _json(
            start_response,
            "200 OK",
            {
                "AccessKeyId": credentials.access_key_id,
                "SecretAccessKey": credentials.secret_access_key,
                "SessionToken": credentials.session_token,
            },
        )
    return _json(start_response, "404 Not Found", {"message": f"no local endpoint {method} {path}"})


def _json(start_response: StartResponse, status: str, document: Any) -> Iterable[bytes]:
    body = json.dumps(document).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
