"""The API's response models."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from handlers.models.events import TaskStatus


class _Output(BaseModel):
    # Each function answers with one or two of these: a model's validator is built on its first use rather than at
    # import (bench/coldstart.py: 10-30 ms of every cold request).
    model_config = ConfigDict(defer_build=True)


class TaskAccepted(_Output):
    """Body of a successful POST /tasks, the same for a repeated submission."""

    taskId: str
    status: TaskStatus
    receivedAt: str


class TaskHistory(_Output):
    """Body of GET /tasks/{taskId}: the state derived by replay, and the events oldest first."""

    taskId: str
    status: TaskStatus
    attempts: int
    life: int
    events: list[dict[str, Any]]


class TaskSummary(_Output):
    """One task of a listing: its current state, replayed from its history, and when it entered it."""

    taskId: str
    status: TaskStatus
    life: int
    attempts: int
    statusAt: str = Field(description="When the event that set the current status was recorded (ISO 8601 UTC)")
    lastError: str | None = Field(default=None, description="The last attempt's error, when the task failed")


class TaskPage(_Output):
    """Body of GET /tasks: tasks newest first, and the cursor of the next page (absent on the last one)."""

    tasks: list[TaskSummary]
    nextCursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; opaque")


class TaskRedriven(_Output):
    """Body of a successful POST /tasks/{taskId}/redrive: the task's new life, queued again."""

    taskId: str
    status: TaskStatus
    life: int = Field(description="The new life: 1 after the first redrive")
    redrivenAt: str


class ProofFinding(_Output):
    """Something that does not verify."""

    kind: str = Field(description="altered, moved, deleted, inserted-outside, modified, removed, digest-signature, ...")
    subject: str = Field(description="The task and sort key of the event, or the digest's key")
    detail: str


class TaskProof(_Output):
    """Body of GET /tasks/{taskId}/proof: the task's events checked against the signed digests."""

    taskId: str
    verified: bool = Field(description="Every event is in a digest whose signature verifies, unaltered, with its MAC")
    verifiedUpTo: str | None = Field(default=None, description="The end of the last period sealed (ISO 8601 UTC)")
    events: list[dict[str, Any]] = Field(description="Per event: seq, sk, type, status (verified, pending, ...)")
    findings: list[ProofFinding]


class ErrorBody(_Output):
    """Body of every 4xx and 5xx answer."""

    statusCode: int
    error: str
    message: str
    detail: list[dict[str, Any]] | None = None


class SweepResult(_Output):
    """What one run of the stranded-task sweeper did (its return value, and its log line)."""

    queueEmpty: bool = Field(description="The processing queue held nothing when the sweep began")
    examined: int = Field(description="QUEUED index entries examined")
    historiesRead: int = Field(description="Entries whose task's history was read (not proven processed in bulk)")
    resent: list[str] = Field(description="Tasks this sweep re-sent")
    failed: list[str] = Field(description="Tasks whose re-send failed (their REENQUEUED entry is examined later)")
    complete: bool = Field(description="Every index shard reached the cut-off (now - strandedAfterSeconds)")
    lagSeconds: float = Field(description="How far behind the cut-off the furthest-behind shard stopped")
