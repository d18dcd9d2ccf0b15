"""The embedded AWS emulator: moto's WSGI app behind a threaded server that serialises access per service."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.sqs.models import Queue
from werkzeug.serving import BaseWSGIServer, make_server

from local import stats

# moto's backends are plain dicts and lists mutated without locks, so two requests to one service at once can
# lose or double a message. One lock per service app keeps each backend consistent while SQS and DynamoDB
# still answer in parallel; nothing the local cloud uses crosses services at request time.
_held = threading.local()
_original_wait_for_messages = Queue.wait_for_messages
# A long poll wakes on a send (moto notifies) but not when a message's visibility timeout expires; a short
# wait slice bounds that delay without busy-looping.
_WAIT_SLICE_SECONDS = 0.1


def _wait_for_messages_unlocked(self: Queue, timeout: int) -> None:
    """Release the caller's service lock while SQS ReceiveMessage long-polls, so a wait blocks nobody."""
    lock: threading.Lock | None = getattr(_held, "lock", None)
    if lock is None:
        _original_wait_for_messages(self, timeout)
        return
    lock.release()
    try:
        _original_wait_for_messages(self, min(timeout, _WAIT_SLICE_SECONDS))  # type: ignore[arg-type]
    finally:
        lock.acquire()


Queue.wait_for_messages = _wait_for_messages_unlocked  # type: ignore[method-assign]

StartResponse = Callable[..., Any]


class SerialisedMoto:
    """moto's domain dispatcher, each backend app called under its own lock and its body read inside it."""

    def __init__(self) -> None:
        self._dispatcher = DomainDispatcherApplication(create_backend_app)
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
        if stats.ENABLED and environ.get("PATH_INFO") == stats.PATH:
            return _stats_endpoint(environ, start_response)
        app = self._dispatcher.get_application(environ)
        lock = self._lock_for(app)
        with lock:
            _held.lock = lock
            try:
                # The body is materialised under the lock: a lazy iterable would read moto state after release.
                body = b"".join(app(environ, start_response))
            finally:
                _held.lock = None
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


def _stats_endpoint(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    # Local only, and only when TASKTRAIL_LOCAL_STATS=1: the benches' view of what the run asked of AWS.
    if environ.get("REQUEST_METHOD") == "DELETE":
        stats.reset()
    body = json.dumps(stats.snapshot()).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class _QuietRequestHandler(MotoRequestHandler):
    """moto's request handler without werkzeug's per-request access log, which would drown the functions' logs."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Emulator:
    """moto in server mode on 127.0.0.1:port, safe for concurrent clients; stop() shuts it down."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._server: BaseWSGIServer = make_server(
            host, port, SerialisedMoto(), threaded=True, request_handler=_QuietRequestHandler
        )
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
