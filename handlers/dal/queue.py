"""The SQS side: enqueue a task, stretch a failed message's visibility, quarantine a poison message, and tell
whether a queue holds anything at all."""

from botocore.exceptions import BotoCoreError, ClientError

from handlers.dal import clients
from handlers.errors import EnqueueFailedError, QueueUnavailableError
from handlers.models.message import TaskMessage

POISON_ATTRIBUTE = "poisonReason"


def send_task(queue_url: str, message: TaskMessage) -> None:
    """Send the task to the processing queue; any failure is an EnqueueFailedError (the gateway answers 503)."""
    try:
        clients.sqs().send_message(QueueUrl=queue_url, MessageBody=message.model_dump_json())
    except (BotoCoreError, ClientError) as exc:
        raise EnqueueFailedError(f"could not enqueue the task: {exc}") from exc


# Visible, in flight and delayed (the three asked for below): a message in any of these is still in the queue.
DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def is_empty(queue_url: str) -> bool:
    """True when the queue holds no message, visible, in flight or delayed."""
    try:
        response = clients.sqs().get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )
    except (BotoCoreError, ClientError) as exc:
        raise QueueUnavailableError(f"could not read the queue's depth: {exc}") from exc
    attributes = {str(name): value for name, value in response.get("Attributes", {}).items()}
    return all(int(attributes.get(name, "0")) == 0 for name in DEPTH_ATTRIBUTES)


def queue_url_from_arn(arn: str) -> str:
    """The URL of the queue an event source ARN names, on the client's own endpoint (AWS or AWS_ENDPOINT_URL),
    without a GetQueueUrl call: arn:aws:sqs:REGION:ACCOUNT:NAME -> ENDPOINT/ACCOUNT/NAME."""
    *_, account, name = arn.split(":")
    return f"{clients.sqs().meta.endpoint_url}/{account}/{name}"


def change_visibility(queue_url: str, receipt_handle: str, seconds: int) -> None:
    """Hide the received message for `seconds` from now (the retry backoff)."""
    try:
        clients.sqs().change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )
    except (BotoCoreError, ClientError) as exc:
        raise QueueUnavailableError(f"could not change the message's visibility: {exc}") from exc


def send_poison(queue_url: str, body: str, reason: str) -> None:
    """Put a message that can never succeed on the dead-letter queue as it is, tagged with why."""
    try:
        clients.sqs().send_message(
            QueueUrl=queue_url,
            MessageBody=body,
            MessageAttributes={POISON_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:1024] or "unknown"}},
        )
    except (BotoCoreError, ClientError) as exc:
        raise QueueUnavailableError(f"could not move the poison message to the dead-letter queue: {exc}") from exc
