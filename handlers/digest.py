"""Entry point of the digest function: a batch of the audit table's stream is read into a chunk; a scheduled event
seals the periods that are due (handlers/logic/digest.py). A stream batch seals them too, when one is due that this
environment has not seen sealed: with traffic, a digest follows its period within seconds rather than at the next
minute of the schedule, which remains for idle periods (an empty period is sealed too).
"""

from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import capture_lambda_handler, logger, metrics

if TYPE_CHECKING:
    from handlers.dal.digest_store import DigestSigner, DigestStore
    from handlers.models.settings import DigestSettings


# The start of the newest period this environment has seen sealed: a stream batch seals only when a newer one is due.
_sealed_through: datetime | None = None


@metrics.log_metrics
@capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # First call only: the models and boto3.
    from datetime import UTC

    from handlers.dal import clients
    from handlers.dal.digest_store import DigestSigner, DigestStore
    from handlers.dal.mac_keys import mac_keys
    from handlers.errors import ServiceUnavailableError
    from handlers.logic.digest import due_period, ingest
    from handlers.models.settings import digest_settings

    settings = digest_settings()
    store = DigestStore(clients.s3(), settings.digest_bucket)
    signer = DigestSigner(clients.kms(), settings.signing_key_id)
    now = datetime.now(UTC)
    # Every AWS call ends before the invocation does: a stalled bucket fails the batch, which the mapping retries.
    with clients.invocation_deadline(context):
        if "Records" not in event:
            return _seal(now, settings, store, signer, context)
        # The stream: any failure raises, and the mapping retries (and bisects) the batch.
        keys = mac_keys(settings.event_mac_key_id, settings.audit_table_name) if settings.event_mac_key_id else None
        read = ingest(event["Records"], now, settings, store, keys)
        outcome: dict[str, Any] = {"chunk": read.chunk, "events": read.events, "altered": read.altered}
        outcome["unsigned"] = read.unsigned
        if _sealed_through is None or due_period(now, settings) > _sealed_through:
            try:
                outcome |= _seal(now, settings, store, signer, context)
            except ServiceUnavailableError as exc:
                # The batch is read; the schedule seals within a minute. Failing here would only read it again.
                logger.warning("sealing after a stream batch failed; the schedule will seal", extra={"error": str(exc)})
        return outcome


def _seal(
    now: datetime, settings: "DigestSettings", store: "DigestStore", signer: "DigestSigner", context: LambdaContext
) -> dict[str, Any]:
    from handlers.dal import clients
    from handlers.logic.digest import seal
    from handlers.models.contract import Metric
    from handlers.observability import seconds

    global _sealed_through
    # Half the time left for AWS calls: a period in hand when the budget runs out still ends inside the timeout.
    budget = (clients.seconds_left() or context.get_remaining_time_in_millis() / 1000) / 2
    sealed = seal(now, settings, store, signer, budget_seconds=budget)
    _sealed_through = sealed.through
    if sealed.lag_seconds is not None:
        seconds(Metric.DIGEST_LAG_SECONDS, sealed.lag_seconds)
    if sealed.sealed:
        logger.info("digests sealed", extra={"sealed": sealed.sealed, "lagSeconds": sealed.lag_seconds})
    return {"sealed": sealed.sealed, "lagSeconds": sealed.lag_seconds}
