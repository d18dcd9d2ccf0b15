"""Lambda's runtime, locally: each function gets a pool of execution environments (processes), one invocation at a
time each.

A process per environment is what makes three functions with the same variable names (AUDIT_TABLE_NAME,
POWERTOOLS_SERVICE_NAME...) safe in one local cloud, keeps module state apart as Lambda does, lets a timeout
end an invocation for real (the environment is killed, as Lambda does), and lets a test SIGKILL a function.
"""

from __future__ import annotations

import io
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from local.deploy.topology import FunctionSpec
from local.emulator import stats
from local.emulator.account import REGION
from local.services.logs import LogPrinter

T = TypeVar("T")
_BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
# Lambda's init phase may take 10 s; the local one imports the same code on a possibly loaded machine.
_INIT_TIMEOUT_SECONDS = 30.0


class InitError(RuntimeError):
    """The handler module could not be imported in a new environment."""


@dataclass(frozen=True)
class Result:
    """The outcome of one invocation, as the caller (a poller or the API) sees it."""

    ok: bool
    payload: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0
    # Time inside the handler, as the environment measured it (None when it never answered).
    handler_ms: float | None = None

    @property
    def error_summary(self) -> str:
        if not self.error:
            return ""
        return f"{self.error.get('errorType')}: {self.error.get('errorMessage')}"


def _read_line(fd: int, buffer: bytearray, deadline: float) -> bytes | None:
    """One line from fd, None if the deadline passes first; EOFError if the writer is gone."""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            raise EOFError
        buffer.extend(chunk)
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


class ExecutionEnvironment:
    """One process running one function; not thread-safe (the pool hands it to one caller at a time)."""

    def __init__(
        self, spec: FunctionSpec, task_root: Path, env: dict[str, str], printer: LogPrinter, label: str
    ) -> None:
        self.spec = spec
        request_r, self._request_w = os.pipe()
        self._response_r, response_w = os.pipe()
        self._buffer = bytearray()
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.process = subprocess.Popen(  # noqa: S603 - our own bootstrap script, argv built here
            [sys.executable, "-P", str(_BOOTSTRAP), str(task_root), spec.handler, str(request_r), str(response_w)],
            env={**env, "AWS_LAMBDA_LOG_STREAM_NAME": stream},
            cwd=task_root,
            pass_fds=(request_r, response_w),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        os.close(request_r)
        os.close(response_w)
        threading.Thread(target=self._pump_output, args=(printer, label), daemon=True).start()

    def _pump_output(self, printer: LogPrinter, label: str) -> None:
        assert self.process.stdout is not None
        for raw in io.TextIOWrapper(self.process.stdout, encoding="utf-8", errors="replace"):
            printer.function_output(label, raw)

    def wait_ready(self) -> None:
        try:
            line = _read_line(self._response_r, self._buffer, time.monotonic() + _INIT_TIMEOUT_SECONDS)
        except EOFError:
            line = None
        message: dict[str, Any] = json.loads(line) if line else {"ready": False, "error": {"errorMessage": "no answer"}}
        if not message.get("ready"):
            self.kill()
            error = message.get("error") or {}
            raise InitError(f"{self.spec.name}: {error.get('errorType')}: {error.get('errorMessage')}")

    def invoke(self, event: Any, request_id: str) -> Result:
        started = time.monotonic()
        deadline_ms = int(time.time() * 1000) + self.spec.timeout * 1000
        request = json.dumps({"event": event, "requestId": request_id, "deadlineMs": deadline_ms})
        try:
            os.write(self._request_w, request.encode() + b"\n")
        except OSError:
            return Result(False, error={"errorType": "Runtime.ExitError", "errorMessage": "environment is gone"})
        try:
            line = _read_line(self._response_r, self._buffer, started + self.spec.timeout)
        except EOFError:
            self.kill()
            error = {"errorType": "Runtime.ExitError", "errorMessage": f"exit code {self.process.returncode}"}
            return Result(False, error=error, duration_ms=(time.monotonic() - started) * 1000)
        duration = (time.monotonic() - started) * 1000
        if line is None:
            # Lambda ends a timed-out invocation by stopping its environment; so do we.
            self.kill()
            message = f"Task timed out after {self.spec.timeout:.2f} seconds"
            return Result(False, error={"errorType": "Sandbox.Timedout", "errorMessage": message}, duration_ms=duration)
        message = json.loads(line)
        return Result(message["ok"], message.get("result"), message.get("error"), duration, message.get("durationMs"))

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._close()

    def stop(self) -> None:
        """End the environment gently: closing its request pipe ends the bootstrap's loop."""
        self._close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()

    def _close(self) -> None:
        for fd in (self._request_w, self._response_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._request_w = self._response_r = -1


def function_environment(spec: FunctionSpec, endpoint: str, task_root: Path) -> dict[str, str]:
    """The process environment Lambda would give the function, pointed at the emulator."""
    env = {key: os.environ[key] for key in ("PATH", "LANG", "HOME", "TMPDIR") if key in os.environ}
    env.update(spec.environment)
    # Reserved variables last: on Lambda a function cannot override them either.
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "LAMBDA_TASK_ROOT": str(task_root),
            "LOCAL_FUNCTION_ARN": spec.arn,
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",
            # There is no X-Ray daemon here; Powertools' tracer would otherwise try to reach one.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    return env


class _Spawner:
    """Starts every environment from one thread that lives as long as the process.

    The environments ask to be killed when their parent dies (PR_SET_PDEATHSIG), and Linux sends that signal when
    the *thread* that forked them ends: an environment forked from a short-lived request thread would die with it.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="spawner", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            job, future = self._jobs.get()
            try:
                future.set_result(job())
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                future.set_exception(error)

    def run(self, job: Callable[[], T]) -> T:
        future: Future[T] = Future()
        self._jobs.put((job, future))
        return future.result()


_SPAWNER = _Spawner()


class FunctionPool:
    """Up to `max_size` environments of one function; an invocation takes an idle one or starts a new one."""

    def __init__(self, spec: FunctionSpec, task_root: Path, endpoint: str, printer: LogPrinter, max_size: int) -> None:
        self.spec = spec
        self._task_root = task_root
        self._env = function_environment(spec, endpoint, task_root)
        self._printer = printer
        self._label = spec.name.removeprefix("tasktrail-local-")
        self._max_size = max_size
        self._idle: list[ExecutionEnvironment] = []
        self._all: set[ExecutionEnvironment] = set()
        self._starting = 0
        self._cond = threading.Condition()
        self._closed = False

    @property
    def label(self) -> str:
        return self._label

    @property
    def pids(self) -> list[int]:
        with self._cond:
            return [e.process.pid for e in self._all]

    def warm(self) -> None:
        """Start one environment now, so that a broken handler fails `up` rather than the first request."""
        env = self._start()
        with self._cond:
            self._idle.append(env)
            self._cond.notify()

    def _start(self) -> ExecutionEnvironment:
        with self._cond:
            self._starting += 1
        started = time.monotonic()
        try:
            env = _SPAWNER.run(
                lambda: ExecutionEnvironment(self.spec, self._task_root, self._env, self._printer, self._label)
            )
            env.wait_ready()
        finally:
            with self._cond:
                self._starting -= 1
                self._cond.notify_all()
        with self._cond:
            self._all.add(env)
            count = len(self._all)
        init = time.monotonic() - started
        message = f"environment {count} started (pid {env.process.pid}, init {init:.2f}s)"
        self._printer.line(self._label, "DEBUG", message)
        return env

    def _acquire(self) -> ExecutionEnvironment:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError(f"{self.spec.name} is shutting down")
                while self._idle:
                    env = self._idle.pop()
                    if env.alive:
                        return env
                    self._all.discard(env)
                # One environment starts at a time (unless there is none): they all share this machine's cores,
                # and several importing at once would each overrun the timeout of their first invocation.
                if len(self._all) + self._starting < self._max_size and (self._starting == 0 or not self._all):
                    break
                self._cond.wait()
        return self._start()

    def _release(self, env: ExecutionEnvironment) -> None:
        with self._cond:
            if env.alive and not self._closed:
                self._idle.append(env)
            else:
                self._all.discard(env)
            self._cond.notify()
        if self._closed:
            env.stop()

    def invoke(self, event: Any) -> Result:
        request_id = str(uuid.uuid4())
        try:
            env = self._acquire()
        except InitError as error:
            return Result(False, error={"errorType": "Runtime.ImportModuleError", "errorMessage": str(error)})
        try:
            result = env.invoke(event, request_id)
        finally:
            self._release(env)
        if stats.ENABLED:
            # A timed-out invocation is billed its whole timeout, as on Lambda.
            billed = result.handler_ms if result.handler_ms is not None else result.duration_ms
            stats.record_invocation(self.spec.name, self.spec.memory, result.ok, billed)
        if not result.ok:
            self._printer.line(self._label, "ERROR", f"invocation {request_id} failed: {result.error_summary}")
        return result

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for env in idle:
            env.stop()
