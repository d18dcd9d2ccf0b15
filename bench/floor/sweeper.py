"""Floor sweeper: the baseline's reads, with Powertools' Logger, Metrics and Tracer."""

from typing import Any

from baseline.sweeper import sweep

from floor._powertools import count, logger, observed


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = sweep()
    count("SweepsDone")
    logger.info("sweep done", extra=result)
    return result
