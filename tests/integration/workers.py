"""Task workers for tests of TASK_WORKER: any "module:function" the processing function can import."""

from handlers.models.message import TaskRun

seen: list[TaskRun] = []


def record_and_fail_odd(run: TaskRun) -> None:
    """Remember the run; fail tasks whose payload says odd."""
    seen.append(run)
    if run.payload.get("odd"):
        raise RuntimeError(f"odd task {run.task_id}")
