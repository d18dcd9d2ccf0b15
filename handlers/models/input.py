"""The API's request models: what a client may submit."""

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import PydanticCustomError

TASK_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
TASK_ID_RULE = "an integer >= 0 or a string of 1-128 characters from A-Z a-z 0-9 . _ : -"

TaskIdText = Annotated[str, StringConstraints(strict=True, pattern=TASK_ID_PATTERN)]
# Strict: true/false and 1.0 are not task ids; the bound keeps the stored string within 128 characters.
TaskIdNumber = Annotated[int, Field(strict=True, ge=0, lt=10**128)]


class TaskSubmission(BaseModel):
    """Body of POST /tasks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    taskId: TaskIdNumber | TaskIdText = Field(description=f"The task's id: {TASK_ID_RULE}")
    payload: dict[str, Any] = Field(description="Any JSON object; the task worker's input")

    @field_validator("taskId", mode="wrap")
    @classmethod
    def _one_task_id_error(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> int | str:
        # One error naming the rule, instead of one per member of the union.
        try:
            result: int | str = handler(value)
        except ValidationError as exc:
            raise PydanticCustomError("task_id", f"taskId must be {TASK_ID_RULE}") from exc
        return result

    @property
    def task_id(self) -> str:
        """The id as it is stored: always a string."""
        return str(self.taskId)
