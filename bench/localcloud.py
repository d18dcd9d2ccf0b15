"""For the benches: a local cloud (local.cloud.launch) with the emulator's request counters on, and a percentile."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the benches run as scripts, `python bench/NAME.py`, from any directory

from local.cloud.launch import CloudProcess as Cloud  # noqa: E402
from local.cloud.launch import start  # noqa: E402

__all__ = ["Cloud", "percentile", "start_cloud"]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def start_cloud(*config: str, iam: bool = True) -> Cloud:
    """Start the local cloud (extra `--config key=value` pairs in `config`; IAM enforced unless `iam` is False) and
    wait until its API answers."""
    argv = [arg for pair in config for arg in ("--config", pair)] + ([] if iam else ["--no-iam"])
    return start(Path(tempfile.mkdtemp(prefix="tasktrail-bench-")), *argv, env={"TASKTRAIL_LOCAL_STATS": "1"})
