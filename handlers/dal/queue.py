"""The SQS side: enqueue a task, stretch a failed message's visibility, quarantine a poison message, and tell
whether a queue holds anything at all."""

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from handlers.errors import EnqueueFailedError, QueueUnavailableError
from handlers.models.message import TaskMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeFilterType

POISON_ATTRIBUTE = "poisonReason"
# Visible, in flight and delayed: a message in any of these is still in the queue.
DEPTH_ATTRIBUTES: tuple["QueueAttributeFilterType", ...] = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


class TaskQueue:
    """One queue of one stack (the processing queue or the dead-letter queue), through one SQS client."""

    def __init__(self, client: "SQSClient", url: str) -> None:
        self.client = client
        self.url = url

    @classmethod
    def from_arn(cls, client: "SQSClient", arn: str) -> "TaskQueue":
        """The queue an event source ARN names, on the client's own endpoint (AWS or AWS_ENDPOINT_URL), without a
        GetQueueUrl call: arn:aws:sqs:REGION:ACCOUNT:NAME -> ENDPOINT/ACCOUNT/NAME."""
        *_, account, name = arn.split(":")
        return cls(client, f"{client.meta.endpoint_url}/{account}/{name}")

    def send_task(self, message: TaskMessage) -> None:
        """Send the task; any failure is an EnqueueFailedError (the gateway answers 503)."""
        try:
            self.client.send_message(QueueUrl=self.url, MessageBody=message.model_dump_json())
        except (BotoCoreError, ClientError) as exc:
            raise EnqueueFailedError(f"could not enqueue the task: {exc}") from exc

    def is_empty(self) -> bool:
        """True when the queue holds no message, visible, in flight or delayed."""
        try:
            response = self.client.get_queue_attributes(QueueUrl=self.url, AttributeNames=list(DEPTH_ATTRIBUTES))
        except (BotoCoreError, ClientError) as exc:
            raise QueueUnavailableError(f"could not read the queue's depth: {exc}") from exc
        attributes = {str(name): value for name, value in response.get("Attributes", {}).items()}
        return all(int(attributes.get(name, "0")) == 0 for name in DEPTH_ATTRIBUTES)

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        """Hide the received message for `seconds` from now (the retry backoff)."""
        try:
            self.client.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
        except (BotoCoreError, ClientError) as exc:
            raise QueueUnavailableError(f"could not change the message's visibility: {exc}") from exc

    def send_poison(self, body: str, reason: str) -> None:
        """Put a message that can never succeed on this (dead-letter) queue as it is, tagged with why."""
        try:
            self.client.send_message(
                QueueUrl=self.url,
                MessageBody=body,
                MessageAttributes={POISON_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:1024] or "unknown"}},
            )
        except (BotoCoreError, ClientError) as exc:
            raise QueueUnavailableError(f"could not move the poison message to the dead-letter queue: {exc}") from exc
