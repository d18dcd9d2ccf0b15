"""Narrow patches of moto's SQS for the embedded emulator: a long poll waits outside its service's lock; and a batch
action is authorised as its single action, as SQS does ("setting permissions for SendMessage, DeleteMessage, or
ChangeMessageVisibility sets permissions for the corresponding batch versions of the actions":
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api.html). moto asked for
sqs:DeleteMessageBatch, an action IAM does not have, so Lambda's own pollers were refused their deletes."""

from __future__ import annotations

import threading
from typing import Any

from moto.core.authorization import ActionAuthenticatorMixin
from moto.sqs.models import Queue
from moto.sqs.responses import SQSResponse

from local.emulator.locks import held_lock

_original_wait_for_messages = Queue.wait_for_messages
# A long poll wakes on a send (moto notifies) but not when a message's visibility timeout expires; a short
# wait slice bounds that delay without busy-looping.
_WAIT_SLICE_SECONDS = 0.1


def _wait_for_messages_unlocked(self: Queue, timeout: int) -> None:
    """Release the caller's service lock while SQS ReceiveMessage long-polls, so a wait blocks nobody."""
    lock: threading.Lock | None = held_lock()
    if lock is None:
        _original_wait_for_messages(self, timeout)
        return
    lock.release()
    try:
        _original_wait_for_messages(self, min(timeout, _WAIT_SLICE_SECONDS))  # type: ignore[arg-type]
    finally:
        lock.acquire()


BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _authorise_batches_as_their_actions(self: SQSResponse, iam_request_cls: Any, resource: str = "*") -> None:
    single = BATCH_ACTIONS.get(self._get_action())
    if single is None:
        ActionAuthenticatorMixin._authenticate_and_authorize_action(self, iam_request_cls, resource)
        return
    self._get_action = lambda: single  # type: ignore[method-assign] # this request only
    try:
        ActionAuthenticatorMixin._authenticate_and_authorize_action(self, iam_request_cls, resource)
    finally:
        del self._get_action


def install() -> None:
    """Apply the patches (idempotent)."""
    SQSResponse._authenticate_and_authorize_action = _authorise_batches_as_their_actions  # type: ignore[assignment,method-assign]
    Queue.wait_for_messages = _wait_for_messages_unlocked  # type: ignore[method-assign]
