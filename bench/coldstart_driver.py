"""What runs inside each measured process of bench/coldstart.py, started as the local Lambda runtime starts an
execution environment (`python3.13 -S -P`, the package, the layer and the runtime interface client on PYTHONPATH).

It loads what AWS's runtime interface client has loaded by the time it imports a handler, then times, from just
before the handler's import: the import (Lambda's init phase), the first event (the first invocation), and the
second (a warm one), by the clock and in CPU time. Arguments: HANDLER (module.function), a JSON file of
[{"event", "traceId", "requestId"}, ...], and the file to write the timings and answers to.
"""

import importlib
import json
import os
import sys
import time


def main() -> None:
    handler_name, events_path, result_path = sys.argv[1:4]
    with open(events_path, encoding="utf-8") as source:  # noqa: PTH123 - pathlib is not loaded yet, and need not be
        invocations = json.load(source)
    # On Lambda these are loaded (bootstrap: logging, json, traceback, the runtime client) before the handler is.
    importlib.import_module("awslambdaric.bootstrap")
    context_class = importlib.import_module("awslambdaric.lambda_context").LambdaContext
    module_name, _, function_name = handler_name.rpartition(".")
    arn = f"arn:aws:lambda:{os.environ['AWS_REGION']}:123456789012:function:{os.environ['AWS_LAMBDA_FUNCTION_NAME']}"

    started, started_cpu = time.perf_counter(), time.process_time()
    handler = getattr(importlib.import_module(module_name), function_name)
    marks, cpu_marks = [time.perf_counter()], [time.process_time()]
    answers = []
    for invocation in invocations:
        # Set per invocation by the runtime interface client, from the Runtime API's trace header.
        os.environ["_X_AMZN_TRACE_ID"] = invocation["traceId"]
        deadline_ms = int(time.time() * 1000) + int(os.environ.get("BENCH_TIMEOUT_MS", "30000"))
        context = context_class(invocation["requestId"], None, None, deadline_ms, arn)
        answers.append(handler(invocation["event"], context))
        marks.append(time.perf_counter())
        cpu_marks.append(time.process_time())
    result = {
        "ms": [(mark - previous) * 1000 for previous, mark in zip([started, *marks], marks, strict=False)],
        # This process's own CPU time: unlike the clock, it does not count waiting for the emulator, nor for a CPU
        # that other work on the machine holds, so it compares variants on a busy machine.
        "cpu_ms": [
            (mark - previous) * 1000 for previous, mark in zip([started_cpu, *cpu_marks], cpu_marks, strict=False)
        ],
    }
    result["answers"] = answers
    with open(result_path, "w", encoding="utf-8") as sink:  # noqa: PTH123
        json.dump(result, sink)


if __name__ == "__main__":
    main()
