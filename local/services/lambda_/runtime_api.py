"""Lambda's Runtime API (2018-06-01), locally: the HTTP interface an execution environment's runtime interface
client (AWS's awslambdaric, as in Lambda's Python images) polls for its next event and posts its answer to. One
server per environment, so that a `next` always belongs to exactly one process.

https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
# What the Runtime API answers a post it has taken.
ACCEPTED = b'{"status":"OK"}'


@dataclass(frozen=True)
class Invocation:
    """One event handed to the environment by `next`, with what the runtime client reads from its headers."""

    request_id: str
    body: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str


@dataclass(frozen=True)
class Answer:
    """What the environment posted for an invocation: its response, or its error document."""

    ok: bool
    document: Any


class RuntimeApi(ThreadingHTTPServer):
    """The Runtime API of one execution environment, on 127.0.0.1 and a free port."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self._pending: queue.Queue[Invocation | None] = queue.Queue()
        self._answers: dict[str, Future[Answer]] = {}
        self._lock = threading.Lock()
        # Set by the first `next`: the runtime client has imported the handler (Lambda's init phase is over).
        self.polling = threading.Event()
        self.init_error: Future[dict[str, Any]] = Future()
        self._thread = threading.Thread(target=self.serve_forever, name="runtime-api", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """AWS_LAMBDA_RUNTIME_API: host:port."""
        return f"127.0.0.1:{self.server_address[1]}"

    def dispatch(self, invocation: Invocation) -> Future[Answer]:
        """Hand an event to the environment's next `next`; the future holds what it posts back."""
        answer: Future[Answer] = Future()
        with self._lock:
            self._answers[invocation.request_id] = answer
        self._pending.put(invocation)
        return answer

    def forget(self, request_id: str) -> None:
        """An invocation that will not be answered (its environment timed out or died)."""
        with self._lock:
            self._answers.pop(request_id, None)

    def next_invocation(self) -> Invocation | None:
        self.polling.set()
        return self._pending.get()

    def answer(self, request_id: str, answer: Answer) -> bool:
        with self._lock:
            future = self._answers.pop(request_id, None)
        if future is None:
            return False
        future.set_result(answer)
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a connection the environment dropped as it ended says nothing about the function

    def close(self) -> None:
        self._pending.put(None)  # a `next` still waiting gets an error, not a hang
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the runtime client keeps one connection for all its calls
    server: RuntimeApi

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes: without this, Nagle and the client's delayed ACK add ~40 ms
        # to every answer (measured: 88 ms an invocation against 1 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass

    def _reply(self, status: int, body: bytes = ACCEPTED, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True  # the environment is gone (killed, timed out): nobody to answer

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path != f"{PREFIX}/invocation/next":
            self._reply(404, b'{"errorType":"InvalidRequest"}')
            return
        invocation = self.server.next_invocation()
        if invocation is None:
            self._reply(500, b'{"errorType":"EnvironmentShuttingDown"}')
            return
        self._reply(
            200,
            invocation.body,
            {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                "Lambda-Runtime-Trace-Id": invocation.trace_id,
            },
        )

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = self.path.removeprefix(PREFIX).strip("/").split("/")
        if parts == ["init", "error"]:
            self._reply(202)
            if not self.server.init_error.done():
                self.server.init_error.set_result(_document(body))
            return
        if len(parts) == 3 and parts[0] == "invocation" and parts[2] in {"response", "error"}:
            taken = self.server.answer(parts[1], Answer(parts[2] == "response", _document(body)))
            # A late answer (its invocation timed out) is refused, as Lambda refuses it.
            self._reply(202 if taken else 400)
            return
        self._reply(404, b'{"errorType":"InvalidRequest"}')


def _document(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return {"errorType": "Runtime.MarshalError", "errorMessage": body[:200].decode("utf-8", "replace")}


def trace_id(now: float | None = None) -> str:
    """An X-Ray trace header, as Lambda passes one to every invocation (not sampled: there is no daemon here)."""
    import os

    epoch = int(now or time.time())
    return f"Root=1-{epoch:08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=0"
