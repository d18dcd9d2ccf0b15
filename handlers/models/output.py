"""The API's response models."""

from typing import Any

from pydantic import BaseModel


class TaskAccepted(BaseModel):
    """Body of a successful POST /tasks, the same for a repeated submission."""

    taskId: str
    status: str
    receivedAt: str


class TaskHistory(BaseModel):
    """Body of GET /tasks/{taskId}: the state derived by replay, and the events oldest first."""

    taskId: str
    status: str
    attempts: int
    life: int
    events: list[dict[str, Any]]


class ErrorBody(BaseModel):
    """Body of every 4xx and 5xx answer."""

    statusCode: int
    error: str
    message: str
    detail: list[dict[str, Any]] | None = None
