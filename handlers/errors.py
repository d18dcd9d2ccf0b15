"""Domain exceptions shared by every layer; the API maps each type to an HTTP status."""


class TaskTrailError(Exception):
    """Base of tasktrail's own errors."""


class BadRequestError(TaskTrailError):
    """The request cannot be read at all (malformed JSON, invalid UTF-8, nesting too deep)."""


class PayloadTooLargeError(TaskTrailError):
    """The request body is over the gateway's limit."""


class UnsupportedMediaTypeError(TaskTrailError):
    """The request body is not declared as JSON."""


class TaskNotFoundError(TaskTrailError):
    """No event has been recorded for this task."""


class TaskConflictError(TaskTrailError):
    """The task id was already submitted with another payload."""


class TaskNotDeadLetteredError(TaskConflictError):
    """A redrive of a task whose current state is not DEAD_LETTERED (never failed, or already redriven)."""


class InvalidQueryError(BadRequestError):
    """A listing's filter or cursor cannot be read (a bad `since`, a cursor of another query)."""


class ServiceUnavailableError(TaskTrailError):
    """A dependency (queue or table) failed; the client may retry the same request."""


class EnqueueFailedError(ServiceUnavailableError):
    """The task is recorded but could not be sent to the processing queue."""


class AuditStoreUnavailableError(ServiceUnavailableError):
    """The audit table could not be read or written."""


class TaskAttemptFailedError(TaskTrailError):
    """A processing attempt failed; raising it reports the record in batchItemFailures."""


class PoisonMessageError(TaskTrailError):
    """A queue message that is not a task at all and can never succeed."""


class QueueUnavailableError(ServiceUnavailableError):
    """An SQS call other than the enqueue failed."""
