"""The API's request models: what a client may submit."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

TASK_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"

TaskIdText = Annotated[str, StringConstraints(strict=True, pattern=TASK_ID_PATTERN)]
# Strict: true/false and 1.0 are not task ids; the bound keeps the stored string within 128 characters.
TaskIdNumber = Annotated[int, Field(strict=True, ge=0, lt=10**128)]


class TaskSubmission(BaseModel):
    """Body of POST /tasks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    taskId: TaskIdNumber | TaskIdText = Field(description="An integer >= 0 or 1-128 of A-Z a-z 0-9 . _ : -")
    payload: dict[str, Any] = Field(description="Any JSON object; the task worker's input")

    @property
    def task_id(self) -> str:
        """The id as it is stored: always a string."""
        return str(self.taskId)
