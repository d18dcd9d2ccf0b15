"""The process inside one execution environment (Lambda's bootstrap): imports a handler once, then runs the
invocations its parent sends.

Run as a script (`python -P .../bootstrap.py`), standard library only, so that the function sees its own deployment
package and site-packages but nothing of the project tree, as on Lambda.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import signal
import sys
import time
import traceback
from typing import Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # If the local cloud is SIGKILLed, its environments must not live on and keep writing to the emulator.
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the environment still exits when its request pipe closes


class LambdaContext:
    """The context object of the Python runtime, with the same attribute names and types."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn = os.environ["LOCAL_FUNCTION_ARN"]
        # The real runtime hands this over as the string it reads from the environment.
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc),
    }


def _invoke(handler: Any, request: dict[str, Any]) -> dict[str, Any]:
    context = LambdaContext(request["requestId"], request["deadlineMs"])
    started = time.perf_counter()
    try:
        result = handler(request["event"], context)
    except Exception as exc:  # noqa: BLE001 - any exception is the function's error, reported like Lambda
        return {"ok": False, "error": _error(exc), "durationMs": (time.perf_counter() - started) * 1000}
    # The handler's own time, which Lambda bills; the parent's wall clock adds the pipe and JSON round trip.
    duration_ms = (time.perf_counter() - started) * 1000
    try:
        return {"ok": True, "result": json.loads(json.dumps(result)), "durationMs": duration_ms}
    except (TypeError, ValueError) as exc:
        return {"ok": False, "error": _error(exc, "Runtime.MarshalError"), "durationMs": duration_ms}


def main() -> None:
    task_root, handler_name, request_fd, response_fd = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    _die_with_parent()
    sys.path.insert(0, task_root)
    os.chdir(task_root)
    responses = os.fdopen(response_fd, "w", encoding="utf-8")
    requests = os.fdopen(request_fd, encoding="utf-8")

    def reply(message: dict[str, Any]) -> None:
        responses.write(json.dumps(message) + "\n")
        responses.flush()

    module_name, _, function_name = handler_name.rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # noqa: BLE001 - an init error is reported, then the environment ends
        reply({"ready": False, "error": _error(exc, "Runtime.ImportModuleError")})
        return
    reply({"ready": True})
    for line in requests:
        reply(_invoke(handler, json.loads(line)))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
