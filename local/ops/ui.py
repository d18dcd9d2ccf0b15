"""`tasktrail ui`: the timeline page served on this machine for any stack. The page's API calls go to a small proxy
here that forwards them to the stack's API with its auth added (the API key from the stack's outputs, or a SigV4
signature with your AWS credentials for apiAuth=iam), so that no key reaches the browser and no CORS is needed."""

from __future__ import annotations

import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from handlers.models.contract import API_BASE_PATH, API_KEY_HEADER
from local.ops.target import Target, TargetError
from local.ops.web.pages import swagger_mount, ui_mount

# Request headers the proxy passes on; everything else (cookies, the browser's own auth) stays here.
FORWARDED_HEADERS = frozenset({"accept", "content-type"})
TIMEOUT_SECONDS = 30


class ApiProxy:
    """Forwards one request to the stack's API, with the stack's auth."""

    def __init__(self, target: Target) -> None:
        if not target.api_url:
            raise TargetError(f"{target.description} has no apiUrl output")
        self.api_url = target.api_url.rstrip("/")
        self.target = target

    def handle(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        import requests

        split = urlsplit(path)
        url = self.api_url + split.path.removeprefix(API_BASE_PATH) + (f"?{split.query}" if split.query else "")
        forwarded = {name: value for name, value in headers if name.lower() in FORWARDED_HEADERS}
        forwarded.update(self._auth(method, url, forwarded, body))
        try:
            response = requests.request(method, url, headers=forwarded, data=body or None, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as error:
            return 502, [("Content-Type", "text/plain")], f"the stack's API did not answer: {error}".encode()
        content_type = response.headers.get("Content-Type", "application/json")
        return response.status_code, [("Content-Type", content_type)], response.content

    def _auth(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        if self.target.api_key:
            return {API_KEY_HEADER: self.target.api_key}
        if self.target.endpoint_url:
            return {}  # a local stack without a key: nothing to add
        # apiAuth=iam (or none): sign with your own credentials, as `aws` would for execute-api.
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        session = self.target.session()
        credentials = session.get_credentials()
        if credentials is None:
            return {}
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", session.region_name or "us-east-1").add_auth(
            request
        )
        return {name: value for name, value in request.headers.items() if name.lower() not in FORWARDED_HEADERS}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        if path in {"", "/"}:
            self._send(302, [("Location", "/ui/")], b"")
            return
        for prefix, mount in self.server.mounts.items():
            if path.startswith(prefix):
                status, headers, out = mount(self.command, self.path, dict(self.headers.items()), body)
                self._send(status, list(headers.items()), out)
                return
        if path.startswith(API_BASE_PATH):
            status, out_headers, out = self.server.proxy.handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
            self._send(status, out_headers, out)
            return
        self._send(404, [("Content-Type", "text/plain")], b"not found")

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, target: Target) -> None:
        self.proxy = ApiProxy(target)
        # The page is given no key: the proxy adds it. It shows which stack it looks at.
        page_config: dict[str, Any] = {"stack": target.description.removeprefix("the ")}
        self.mounts = {
            "/ui": ui_mount(lambda: page_config),
            "/swagger": swagger_mount(self.proxy.handle, dict),
        }
        super().__init__(("127.0.0.1", port), _Handler)


def serve(target: Target, port: int) -> int:
    """Serve the page until Ctrl-C; 0."""
    server = _Server(port, target)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, name="ui", daemon=True)
    thread.start()
    print(f"timeline of {target.description} at http://127.0.0.1:{server.server_address[1]}/ui/ (Ctrl-C stops)")
    print(f"its API calls go to {target.api_url}", flush=True)
    while not stop.wait(1):
        pass
    server.shutdown()
    server.server_close()
    return 0
