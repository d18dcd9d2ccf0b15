"""The embedded AWS emulator: moto's WSGI app behind a threaded HTTP/1.1 server that serialises access per service."""

from __future__ import annotations

import io
import threading
import traceback
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import moto.backends as moto_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from local.emulator import control, dynamodb, iam, kms, sqs, stats
from local.emulator.credentials import Credentials
from local.emulator.locks import holding

# What moto cannot do as AWS does, patched narrowly, one module per service (each with a test that fails without it).
dynamodb.install()
iam.install()
kms.install()
sqs.install()

# moto's dispatcher lists its own package directory (a listdir and a stat per service, ~200) on every request,
# under one lock that every service shares: a sixth of the emulator's time under load. The directory does not
# change while we run, so the listing is taken once.
_MOTO_MODULES = frozenset(moto_backends.list_of_moto_modules())
moto_backends.list_of_moto_modules = lambda: _MOTO_MODULES

StartResponse = Callable[..., Any]


class SerialisedMoto:
    """moto's domain dispatcher, each backend app called under its own lock and its body read inside it."""

    def __init__(self) -> None:
        self._dispatcher = DomainDispatcherApplication(create_backend_app)
        # The administrator, once IAM is enforced (Emulator.start).
        self.admin: Credentials | None = None
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock_for(self, app: object) -> threading.Lock:
        key = id(app)
        lock = self._locks.get(key)
        if lock is None:
            with self._locks_guard:
                lock = self._locks.setdefault(key, threading.Lock())
        return lock

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(control.PREFIX):
            return control.handle(environ, start_response, self.admin)
        app = self._dispatcher.get_application(environ)
        with holding(self._lock_for(app)):
            # The body is materialised under the lock: a lazy iterable would read moto state after release.
            body = b"".join(app(environ, start_response))
        if stats.ENABLED:
            service, operation = _operation(environ)
            if operation == "ReceiveMessage" and b"ReceiptHandle" not in body:
                # An empty long poll: the pollers' fixed cost, apart from what tasks cost.
                operation = "ReceiveMessage(empty)"
            stats.record_request(service, operation, int(environ.get("CONTENT_LENGTH") or 0), len(body))
        return [body]


def _operation(environ: dict[str, Any]) -> tuple[str, str]:
    """(service, operation) of an AWS request: X-Amz-Target for JSON protocols (DynamoDB, SQS on botocore >= 1.34),
    Action= for query protocols (SQS from older clients), else the method and path (REST protocols)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = auth.partition("Credential=")[2].split("/")
    service = scope[3] if len(scope) > 3 else "unknown"
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return service, target.rpartition(".")[2]
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    stream = environ.get("wsgi.input")
    if not action and isinstance(stream, io.BytesIO):  # moto's dispatcher buffered a form body while routing
        action = parse_qs(stream.getvalue().decode("utf-8", "replace")).get("Action")
    if action:
        return service, action[0]
    return service, f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO', '')}"


class _QuietRequestHandler(MotoRequestHandler):
    """moto's request handler without werkzeug's per-request access log, which would drown the functions' logs,
    and with HTTP/1.1 keep-alive: werkzeug closes the connection after every response, so every AWS call paid a
    new TCP connection and a new server thread (a third of the emulator's time under load)."""

    protocol_version = "HTTP/1.1"
    # The response leaves in one write (buffered, flushed once per request by the base class), without Nagle.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def handle_expect_100(self) -> bool:
        # botocore sends S3 PUTs with "Expect: 100-continue" and waits up to a second for the interim answer before
        # it sends the body. The base class writes "100 Continue" into the buffered stream above, where it stayed
        # until the final answer: every PutObject took a second. It is flushed at once, as a server must.
        answered = super().handle_expect_100()
        self.wfile.flush()
        return answered

    def run_wsgi(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            # Rare here (botocore sends it to no service the stack uses): werkzeug's own path, which then closes.
            super().run_wsgi()
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        # The whole body is read before the app runs, so that the next request starts where this one ends.
        body = self.rfile.read(length) if length else b""
        environ = self.make_environ()
        environ["wsgi.input"] = io.BytesIO(body)
        answer: list[Any] = ["500 INTERNAL SERVER ERROR", []]
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            answer[:] = [status, headers]
            return written.append

        try:
            out = b"".join([*written, *self.server.app(environ, start_response)])
        except Exception:  # noqa: BLE001 - as werkzeug: a 500 to the client, the traceback to the log
            self.log_error("error on request:\n%s", traceback.format_exc())
            answer[:] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]]
            out = b"Internal Server Error"
            self.close_connection = True
        code, _, reason = str(answer[0]).partition(" ")
        self.send_response(int(code), reason)
        for name, value in answer[1]:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)


class Emulator:
    """moto in server mode on 127.0.0.1:port, safe for concurrent clients, with IAM enforced when asked (the
    administrator's credentials are then `admin`); stop() shuts it down."""

    def __init__(self, port: int, host: str = "127.0.0.1", enforce_iam: bool = False) -> None:
        self._app = SerialisedMoto()
        self._enforce_iam = enforce_iam
        self._server: BaseWSGIServer = make_server(
            host, port, self._app, threaded=True, request_handler=_QuietRequestHandler
        )
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    @property
    def admin(self) -> Credentials | None:
        """The administrator's credentials, when IAM is enforced."""
        return self._app.admin

    def start(self) -> None:
        if self._enforce_iam:
            self._app.admin = iam.enforce()
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self._enforce_iam:
            iam.relax()
