"""The event sources the local cloud runs (see local.services.event_source): a poller per event source mapping,
by the AWS service its source belongs to, and the sources that are not mappings (EventBridge schedules)."""

from __future__ import annotations

from collections.abc import Callable

from local.deploy.topology import MappingSpec
from local.services.event_source import EventSource, EventSourceFactory, Wiring
from local.services.events import schedules
from local.services.lambda_.event_source_mapping.dynamodb_stream_poller import stream_poller
from local.services.lambda_.event_source_mapping.sqs_poller import sqs_poller

# Lambda event source mappings, by the service of their source ARN.
MAPPING_POLLERS: dict[str, Callable[[MappingSpec, Wiring], EventSource]] = {
    "sqs": sqs_poller,
    "dynamodb": stream_poller,
}
# Event sources that are not mappings.
OTHER_SOURCES: tuple[EventSourceFactory, ...] = (schedules,)


def event_sources(wiring: Wiring) -> list[EventSource]:
    """Every event source the program declares that the local cloud can run; the others are reported."""
    sources: list[EventSource] = []
    for mapping in wiring.topology.mappings:
        poller = MAPPING_POLLERS.get(mapping.service)
        if poller is None:
            wiring.printer.warning(
                f"event source {mapping.source_arn} is not emulated (only {sorted(MAPPING_POLLERS)})"
            )
        elif mapping.enabled:
            sources.append(poller(mapping, wiring))
    for factory in OTHER_SOURCES:
        sources.extend(factory(wiring))
    return sources
