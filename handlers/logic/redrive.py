"""Redrive: start a dead-lettered task's next life from the original message its DEAD_LETTERED event kept.

One implementation for every caller (the API's POST /tasks/{taskId}/redrive and the operator CLI): REDRIVEN is
written first, at (life + 1, gateway slot, rank 0), with a conditional put, so that of two concurrent redrives only
one writes it and sends the task; then the message is sent with the new life, and the processing function records
the second life's attempts under it.
"""

from handlers.dal.audit_store import AuditStore
from handlers.dal.queue import TaskQueue
from handlers.dal.schema import GATEWAY_SLOT, MAX_LIFE
from handlers.errors import TaskConflictError, TaskNotDeadLetteredError, TaskNotFoundError
from handlers.logic.history import payload_of, replay
from handlers.logic.outbox import send_recorded
from handlers.models.contract import Metric
from handlers.models.events import AuditEvent, EventType, TaskStatus
from handlers.models.message import TaskMessage
from handlers.models.output import TaskRedriven
from handlers.observability import count, logger


def redrive_task(store: AuditStore, queue: TaskQueue, task_id: str, requested_by: str) -> TaskRedriven:
    """Redrive the task if its current state is DEAD_LETTERED; TaskNotFoundError for an unknown task,
    TaskNotDeadLetteredError for any other state (including a task another caller has just redriven)."""
    events = store.history(task_id)
    if not events:
        raise TaskNotFoundError(f"no task {task_id!r}")
    state = replay(events)
    if state.status is not TaskStatus.DEAD_LETTERED:
        raise TaskNotDeadLetteredError(
            f"task {task_id!r} is {state.status.value}; only a DEAD_LETTERED task can be redriven"
        )
    life = state.life + 1
    if life > MAX_LIFE:
        raise TaskConflictError(f"task {task_id!r} was redriven {MAX_LIFE} times already")
    message = TaskMessage(taskId=task_id, payload=payload_of(events, state.life), life=life)
    redriven = AuditEvent(
        task_id, EventType.REDRIVEN, life=life, slot=GATEWAY_SLOT, fields={"requestedBy": requested_by[:200]}
    )
    if store.append(redriven) is not None:
        raise TaskNotDeadLetteredError(f"task {task_id!r} was redriven by another request just now")
    count(Metric.TASKS_REDRIVEN)
    logger.info("task redriven", extra={"taskId": task_id, "life": life, "requestedBy": requested_by})
    send_recorded(store, queue, message, after=redriven)
    return TaskRedriven(taskId=task_id, status=TaskStatus.QUEUED, life=life, redrivenAt=redriven.at)
