"""Loading the pluggable task worker named by TASK_WORKER ("module:function")."""

import importlib
from collections.abc import Callable
from functools import cache

from handlers.models.message import TaskRun

TaskWorker = Callable[[TaskRun], object]


@cache
def load_worker(spec: str) -> TaskWorker:
    """Import the worker once per process; a wrong spec fails every attempt loudly (and the tasks dead-letter)."""
    module_name, _, function_name = spec.partition(":")
    worker: TaskWorker = getattr(importlib.import_module(module_name), function_name)
    return worker
