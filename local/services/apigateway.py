"""The API front: serves the program's REST API routes, turning each request into an API Gateway proxy event."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from handlers.models.contract import API_KEY_HEADER
from local.deploy.topology import ApiSpec, RouteSpec
from local.emulator.account import ACCOUNT_ID
from local.services.lambda_.runtime import FunctionPool

# API Gateway refuses payloads over 10 MB before the integration runs.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
# What a REST API answers for a path or method it does not define, whatever the auth.
_NO_ROUTE = (403, {"message": "Missing Authentication Token"})
_FORBIDDEN = (403, {"message": "Forbidden"})
_BAD_GATEWAY = (502, {"message": "Internal server error"})

Mount = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


@dataclass(frozen=True)
class Resource:
    path: str
    pattern: re.Pattern[str]
    methods: dict[str, RouteSpec]


def _pattern(resource_path: str) -> re.Pattern[str]:
    parts = []
    for part in resource_path.strip("/").split("/"):
        if part.startswith("{") and part.endswith("+}"):
            parts.append(f"(?P<{part[1:-2]}>.+)")
        elif part.startswith("{") and part.endswith("}"):
            parts.append(f"(?P<{part[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(part))
    return re.compile("^/" + "/".join(parts) + "/?$" if parts != [""] else "^/$")


def build_resources(api: ApiSpec) -> list[Resource]:
    """Resources in match order: literal segments win over parameters, parameters over greedy ones (as API Gateway)."""
    by_path: dict[str, dict[str, RouteSpec]] = {}
    for route in api.routes:
        by_path.setdefault(route.resource_path, {})[route.method] = route

    def specificity(path: str) -> tuple[int, int, int]:
        return (path.count("+}"), path.count("{"), -path.count("/"))

    return [Resource(p, _pattern(p), by_path[p]) for p in sorted(by_path, key=specificity)]


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def proxy_event(
    api: ApiSpec,
    route: RouteSpec,
    method: str,
    raw_path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    path_parameters: dict[str, str],
    source_ip: str,
    api_key_id: str | None = None,
) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy event for one request, field for field as API Gateway builds it: what the local
    API front sends its functions, and what the handlers' tests invoke them with."""
    now = time.time()
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    query_pairs = parse_qsl(query, keep_blank_values=True)
    query_single = dict(query_pairs)
    query_multi: dict[str, list[str]] = {}
    for k, v in query_pairs:
        query_multi.setdefault(k, []).append(v)
    lower = {k.lower(): v for k, v in single.items()}
    # A body that is not UTF-8 text goes base64-encoded, bytes intact: decoding it with replacement characters
    # would hand the function a different, valid request (invalid UTF-8 was accepted as a task).
    binary = bool(body) and (_binary(api, lower.get("content-type", "")) or not _is_utf8(body))
    identity: dict[str, Any] = dict.fromkeys(
        (
            "cognitoIdentityPoolId",
            "accountId",
            "cognitoIdentityId",
            "caller",
            "principalOrgId",
            "accessKey",
            "cognitoAuthenticationType",
            "cognitoAuthenticationProvider",
            "userArn",
            "user",
        )
    )
    identity.update({"sourceIp": source_ip, "userAgent": lower.get("user-agent")})
    if route.api_key_required:
        identity.update({"apiKey": lower.get(API_KEY_HEADER), "apiKeyId": api_key_id})
    domain = lower.get("host", f"{api.id}.execute-api.localhost")
    return {
        "resource": route.resource_path,
        "path": raw_path,
        "httpMethod": method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": query_single or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": route.resource_id,
            "resourcePath": route.resource_path,
            "httpMethod": method,
            "extendedRequestId": base64.b32encode(uuid.uuid4().bytes)[:16].decode(),
            "requestTime": _request_time(now),
            "path": f"/{api.stage}{raw_path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": api.stage,
            "domainPrefix": domain.split(".")[0].split(":")[0],
            "requestTimeEpoch": int(now * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": identity,
            "domainName": domain,
            "apiId": api.id,
        },
        "body": (base64.b64encode(body).decode() if binary else body.decode("utf-8", errors="replace"))
        if body
        else None,
        "isBase64Encoded": binary,
    }


def _binary(api: ApiSpec, content_type: str) -> bool:
    return any(fnmatch(content_type.split(";")[0].strip(), t) for t in api.binary_media_types)


def _request_time(now: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))


class ApiFront:
    """Routes requests to the functions behind the REST API; the HTTP server calls `handle`."""

    def __init__(self, api: ApiSpec, pools: dict[str, FunctionPool], mounts: dict[str, Mount] | None = None) -> None:
        self.api = api
        self._pools = pools
        self._resources = build_resources(api)
        self._keys = {key: f"key-{i}" for i, key in enumerate(api.api_keys)}
        self._stage_prefix = f"/{api.stage}/"
        # Extra pages served beside the API (a UI, docs), by path prefix.
        self.mounts: dict[str, Mount] = dict(mounts or {})

    def match(self, path: str) -> tuple[Resource, dict[str, str]] | None:
        for resource in self._resources:
            found = resource.pattern.match(path)
            if found:
                return resource, {k: unquote(v) for k, v in found.groupdict().items()}
        return None

    def authorise(self, route: RouteSpec, headers: dict[str, str]) -> tuple[int, dict[str, str]] | None:
        """The 403 API Gateway would answer before invoking anything, or None to go on."""
        if route.authorization == "AWS_IAM" and not headers.get("authorization", "").startswith("AWS4-HMAC-SHA256"):
            # SigV4 cannot be checked without the account's credentials: only its presence is.
            return _NO_ROUTE
        if route.api_key_required and headers.get(API_KEY_HEADER) not in self._keys:
            return _FORBIDDEN
        return None

    def handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        split = urlsplit(target)
        path = split.path
        for prefix, mount in self.mounts.items():
            if path.startswith(prefix):
                status, out_headers, out_body = mount(method, target, dict(headers), body)
                return status, list(out_headers.items()), out_body
        if path.startswith(self._stage_prefix):
            path = path[len(self._stage_prefix) - 1 :]
        lower = {k.lower(): v for k, v in headers}
        matched = self.match(path)
        route = None
        if matched:
            resource, params = matched
            route = resource.methods.get(method) or resource.methods.get("ANY")
        if not matched or route is None:
            return _json(*_NO_ROUTE)
        denied = self.authorise(route, lower)
        if denied:
            return _json(*denied)
        pool = self._pools.get(route.function_name or "")
        if pool is None:
            return _json(500, {"message": "Internal server error"})
        key_id = self._keys.get(lower.get(API_KEY_HEADER, ""))
        event = proxy_event(self.api, route, method, path, split.query, headers, body, params, source_ip, key_id)
        result = pool.invoke(event)
        if not result.ok:
            return _json(*_BAD_GATEWAY)
        return _proxy_response(result.payload, event["requestContext"]["requestId"])


def _json(status: int, body: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json")], json.dumps(body).encode()


def _proxy_response(payload: Any, request_id: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The HTTP response API Gateway makes of a proxy integration's answer; a malformed one is a 502."""
    if not isinstance(payload, dict) or not isinstance(payload.get("statusCode", 200), int):
        return _json(*_BAD_GATEWAY)
    headers: list[tuple[str, str]] = [("x-amzn-RequestId", request_id)]
    multi = payload.get("multiValueHeaders") or {}
    single = payload.get("headers") or {}
    for name, values in multi.items():
        headers.extend((name, str(v)) for v in values)
    headers.extend((name, str(value)) for name, value in single.items() if name not in multi)
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    body = payload.get("body") or ""
    if not isinstance(body, str):
        return _json(*_BAD_GATEWAY)
    raw = base64.b64decode(body) if payload.get("isBase64Encoded") else body.encode()
    return int(payload.get("statusCode", 200)), headers, raw


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in one segment, and without Nagle: otherwise the client's delayed ACK adds
    # ~40 ms to every response.
    disable_nagle_algorithm = True
    # Buffered: the base class flushes once per request.
    wbufsize = 1 << 16
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            self._send(413, [("Content-Type", "application/json")], b'{"message":"Request Too Long"}')
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        try:
            status, headers, out = self.server.front.handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
        except Exception:  # noqa: BLE001 - one request's failure is that request's 500, never the front's end
            traceback.print_exc()
            status, headers, out = _json(500, {"message": "Internal server error"})
        self._send(status, headers, out)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Many clients at once (load tests) must not see refused connections.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], front: ApiFront) -> None:
        self.front = front
        super().__init__(address, _Handler)


class ApiServer:
    """The API front on 127.0.0.1:port, in its own thread."""

    def __init__(self, front: ApiFront, port: int, host: str = "127.0.0.1") -> None:
        self._server = _Server((host, port), front)
        self._thread = threading.Thread(target=self._server.serve_forever, name="api", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
