"""Cold-start benchmark: each handler's import in a fresh, Lambda-like process against `import boto3` alone."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ("handlers.gateway", "handlers.processing", "handlers.dlq")
# What each handler defers to its first invocation (see the imports inside each entry point), and the X-Ray SDK
# that the Tracer loads then: the rest of the cold start, paid by the first request instead of the init phase.
FIRST_CALL = {
    "handlers.gateway": ("handlers.api.routes", "boto3", "aws_xray_sdk.core"),
    "handlers.processing": ("handlers.logic.processing", "boto3", "aws_xray_sdk.core"),
    "handlers.dlq": ("handlers.logic.dead_letter", "boto3", "aws_xray_sdk.core"),
}
GOAL_RATIO = 1.3

# Lambda sets these; Powertools changes behaviour on them (e.g. the tracer only patches inside Lambda).
LAMBDA_ENV = {
    "LAMBDA_TASK_ROOT": str(ROOT),
    "AWS_LAMBDA_FUNCTION_NAME": "tasktrail-bench",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "_HANDLER": "handlers.gateway.handler",
}

TIMER = (
    "import time, importlib, sys\n"
    "t = time.perf_counter()\n"
    "for m in sys.argv[1:]: importlib.import_module(m)\n"
    "print(time.perf_counter() - t)\n"
)


def time_import(modules: tuple[str, ...]) -> float:
    """Seconds one fresh interpreter takes to import `modules`, in order."""
    env = {**os.environ, **LAMBDA_ENV}
    out = subprocess.run(
        [sys.executable, "-c", TIMER, *modules], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per measurement (median is quoted)")
    args = parser.parse_args()

    # Interleave the measurements so that machine noise hits every row alike.
    cases: dict[str, tuple[str, ...]] = {"boto3 alone": ("boto3",)}
    for handler in HANDLERS:
        cases[handler] = (handler,)
        # Not the goal's figure, but the honest total: what the first request adds on top of the import.
        cases[f"{handler} + first call"] = (handler, *FIRST_CALL[handler])
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, modules in cases.items():
            samples[name].append(time_import(modules))

    base = statistics.median(samples["boto3 alone"])
    print(f"cold start: median of {args.runs} fresh processes, Python {sys.version.split()[0]}")
    print(f"{'import':<38}{'median ms':>10}{'x boto3':>9}")
    worst = 0.0
    for name, values in samples.items():
        ratio = statistics.median(values) / base
        if name in HANDLERS:
            worst = max(worst, ratio)
        print(f"{name:<38}{statistics.median(values) * 1000:>10.1f}{ratio:>9.2f}")
    verdict = "met" if worst <= GOAL_RATIO else "NOT met"
    print(f"worst handler: {worst:.2f} x boto3 (goal <= {GOAL_RATIO} x): {verdict}")


if __name__ == "__main__":
    main()
