"""Lambda's runtime, locally: each function gets a pool of execution environments, one invocation at a time each.

An environment is a process of the runtime's own Python (3.13 for python3.13) running AWS's runtime interface client
(awslambdaric, as Lambda's Python images do) against a Runtime API of its own (runtime_api.py). Its sys.path is
Lambda's: the unpacked deployment package, the layers (built for this machine's CPU from the deployed layer's lock),
the runtime interface client, and the bare standard library (`python -S`): a handler that imports something the
deployment does not ship fails at import here as it would on Lambda.

A process per environment keeps three functions with the same variable names apart, keeps module state apart as
Lambda does, lets a timeout end an invocation for real (the environment is killed, as Lambda does), and lets a test
SIGKILL a function. Each environment runs with its function role's own credentials (see `credentials`).
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from local.deploy.topology import FunctionSpec
from local.emulator import stats
from local.emulator.account import ACCOUNT_ID, REGION
from local.services.lambda_.runtime_api import Invocation, RuntimeApi, trace_id
from local.services.logs import LogPrinter

T = TypeVar("T")
# Lambda's init phase may take 10 s; the local one imports the same code on a possibly loaded machine.
_INIT_TIMEOUT_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1
# A process that has ended takes this long at most to be seen as ended.
_POLL_SECONDS = 0.05

Credentials = Callable[[], dict[str, str]]


class InitError(RuntimeError):
    """A new environment could not initialise: its handler module failed to import, or it never asked for work."""


@dataclass(frozen=True)
class Result:
    """The outcome of one invocation, as the caller (a poller or the API) sees it."""

    ok: bool
    payload: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0
    # Time from handing the event over to the answer (None when it never answered).
    handler_ms: float | None = None

    @property
    def error_summary(self) -> str:
        if not self.error:
            return ""
        return f"{self.error.get('errorType')}: {self.error.get('errorMessage')}"


@dataclass(frozen=True)
class FunctionSetup:
    """What every environment of one function starts from."""

    spec: FunctionSpec
    python: Path  # the runtime's interpreter
    # sys.path before the standard library: the task root (/var/task), layers (/opt/python), runtime (/var/runtime)
    search_path: tuple[Path, ...]
    endpoint: str
    # The function role's credentials for a new environment (Lambda hands each environment its own).
    credentials: Credentials = field(default=lambda: {})

    @property
    def task_root(self) -> Path:
        return self.search_path[0]


def _in_child() -> None:
    # The environment dies with the local cloud, and ignores the terminal's Ctrl-C (sent to the whole foreground
    # process group): the cloud drains its invocation and then stops it. CPython keeps an inherited SIG_IGN.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the cloud stops its environments itself


class ExecutionEnvironment:
    """One process running one function; not thread-safe (the pool hands it to one caller at a time)."""

    def __init__(self, setup: FunctionSetup, env: dict[str, str], printer: LogPrinter, label: str) -> None:
        self.spec = setup.spec
        self.api = RuntimeApi()
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.process = subprocess.Popen(  # noqa: S603 - the runtime's interpreter, argv built here
            [str(setup.python), "-S", "-P", "-m", "awslambdaric", setup.spec.handler],
            env={
                **env,
                **setup.credentials(),
                "AWS_LAMBDA_RUNTIME_API": self.api.address,
                "AWS_LAMBDA_LOG_STREAM_NAME": stream,
                "PYTHONPATH": os.pathsep.join(str(path) for path in setup.search_path),
            },
            cwd=setup.task_root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_in_child,  # noqa: PLW1509 - signal disposition and prctl only, from the one spawner thread
        )
        threading.Thread(target=self._pump_output, args=(printer, label), daemon=True).start()

    def _pump_output(self, printer: LogPrinter, label: str) -> None:
        assert self.process.stdout is not None
        for raw in io.TextIOWrapper(self.process.stdout, encoding="utf-8", errors="replace"):
            printer.function_output(label, raw)

    def wait_ready(self) -> None:
        """Return once the runtime client asks for its first event (the handler imported); InitError otherwise."""
        deadline = time.monotonic() + _INIT_TIMEOUT_SECONDS
        while not self.api.polling.wait(_POLL_SECONDS):
            error = self.api.init_error.result() if self.api.init_error.done() else None
            if error is not None or self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                error = error or {"errorType": "Runtime.ExitError", "errorMessage": "no request for an event"}
                raise InitError(f"{self.spec.name}: {error.get('errorType')}: {error.get('errorMessage')}")

    def invoke(self, event: Any, request_id: str) -> Result:
        started = time.monotonic()
        deadline = time.time() + self.spec.timeout
        invocation = Invocation(
            request_id, json.dumps(event).encode(), int(deadline * 1000), self.spec.arn, trace_id(started)
        )
        answer = self.api.dispatch(invocation)
        while True:
            try:
                done = answer.result(timeout=_POLL_SECONDS)
                break
            except FutureTimeout:
                pass
            if self.process.poll() is not None:
                self.api.forget(request_id)
                self.kill()
                error = {"errorType": "Runtime.ExitError", "errorMessage": f"exit code {self.process.returncode}"}
                return Result(False, error=error, duration_ms=(time.monotonic() - started) * 1000)
            if time.time() > deadline:
                # Lambda ends a timed-out invocation by stopping its environment; so do we.
                self.api.forget(request_id)
                self.kill()
                message = f"Task timed out after {self.spec.timeout:.2f} seconds"
                duration = (time.monotonic() - started) * 1000
                return Result(
                    False, error={"errorType": "Sandbox.Timedout", "errorMessage": message}, duration_ms=duration
                )
        duration = (time.monotonic() - started) * 1000
        if done.ok:
            return Result(True, done.document, None, duration, duration)
        error = done.document if isinstance(done.document, dict) else {"errorType": "Unknown", "errorMessage": ""}
        return Result(False, None, error, duration, duration)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.api.close()

    def stop(self) -> None:
        """End the environment, as Lambda does once it is idle: SIGTERM, then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


def function_environment(setup: FunctionSetup) -> dict[str, str]:
    """The process environment Lambda would give the function, pointed at the emulator (credentials apart)."""
    spec = setup.spec
    env = {key: os.environ[key] for key in ("PATH", "LANG", "HOME", "TMPDIR") if key in os.environ}
    env.update(spec.environment)
    # Reserved variables last: on Lambda a function cannot override them either.
    env.update(
        {
            "AWS_ENDPOINT_URL": setup.endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "LAMBDA_TASK_ROOT": str(setup.task_root),
            "LAMBDA_RUNTIME_DIR": str(setup.search_path[-1]),
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",
            # /var/task and /opt are read-only on Lambda: what an environment compiles is never kept for the next,
            # and here it must not be written into the unpacked package or the layer either.
            "PYTHONDONTWRITEBYTECODE": "1",
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


THROTTLED = "Lambda.TooManyRequestsException"


def reserved_concurrency(function_name: str) -> int | None:
    """The function's reserved concurrency (PutFunctionConcurrency), as the emulator holds it: 0 throttles every
    invocation, as an operator stops a function on Lambda; a number caps its environments."""
    from moto.awslambda.models import lambda_backends

    try:
        reserved = lambda_backends[ACCOUNT_ID][REGION].get_function(function_name).reserved_concurrency
    except Exception:  # noqa: BLE001 - the function is gone (a destroy under way): no limit of its own
        return None
    return None if reserved is None else int(reserved)


class FunctionPool:
    """Up to `max_size` environments of one function; an invocation takes an idle one or starts a new one."""

    def __init__(self, setup: FunctionSetup, printer: LogPrinter, max_size: int) -> None:
        self.spec = setup.spec
        self._setup = setup
        self._env = function_environment(setup)
        self._printer = printer
        self._label = setup.spec.name.removeprefix("tasktrail-local-")
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
            env = _SPAWNER.run(lambda: ExecutionEnvironment(self._setup, self._env, self._printer, self._label))
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

    def _acquire(self, limit: int) -> ExecutionEnvironment:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError(f"{self.spec.name} is shutting down")
                busy = len(self._all) - len(self._idle)
                while self._idle and busy < limit:
                    env = self._idle.pop()
                    if env.alive:
                        return env
                    self._all.discard(env)
                # One environment starts at a time (unless there is none): they all share this machine's cores,
                # and several importing at once would each overrun the timeout of their first invocation.
                if len(self._all) + self._starting < limit and (self._starting == 0 or not self._all):
                    break
                self._cond.wait(timeout=1.0)  # a reserved concurrency raised while waiting is seen within a second
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
        reserved = reserved_concurrency(self.spec.name)
        if reserved == 0:
            # Throttled, not run: the event sources retry as Lambda's do (a stream batch until it succeeds, an SQS
            # message after its visibility timeout, an asynchronous event on the async queue's schedule).
            self._printer.line(self._label, "WARNING", f"invocation {request_id} throttled: reserved concurrency 0")
            throttled = {"errorType": THROTTLED, "errorMessage": "Rate Exceeded (reserved concurrency 0)"}
            return Result(False, error=throttled)
        try:
            env = self._acquire(self._max_size if reserved is None else min(self._max_size, reserved))
        except InitError as error:
            return Result(False, error={"errorType": "Runtime.InitError", "errorMessage": str(error)})
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
