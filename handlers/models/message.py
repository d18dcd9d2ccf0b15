"""The processing queue's message body: a task to run."""

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from handlers.models.input import TASK_ID_PATTERN


class TaskMessage(BaseModel):
    """`{"taskId": "...", "payload": {...}, "life": 0}`; extra keys are ignored so that senders may add some."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    taskId: Annotated[str, StringConstraints(strict=True, pattern=TASK_ID_PATTERN)]
    payload: dict[str, Any]
    life: int = Field(default=0, strict=True, ge=0)


@dataclass(frozen=True, slots=True)
class TaskRun:
    """What a task worker (TASK_WORKER, "module:function") is called with; it fails the attempt by raising."""

    task_id: str
    payload: dict[str, Any]
    life: int  # 0, then +1 per redrive
    attempt: int  # the message's ApproximateReceiveCount: 1 for the first attempt of this life
    fault_injection: bool  # the stack allows payload.simulate (demos and tests only)
