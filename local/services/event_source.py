"""What every event source of the local cloud is: something that invokes functions on its own (an event source
mapping's pollers, an EventBridge schedule). The cloud builds them from the program's declarations through the
factories in local.services.registry, starts them once the functions run, and stops and drains them before the
functions end. A new event source is one module with a factory, and one line in the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from local.deploy.topology import Topology
from local.emulator.credentials import Credentials
from local.services.lambda_.runtime import FunctionPool
from local.services.logs import LogPrinter


class EventSource(Protocol):
    """Started once; `stop` takes no new work; `drain` waits for the work in flight."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def drain(self, deadline: float) -> bool:
        """Wait until nothing is in flight or `deadline` (time.monotonic) passes; True when drained."""
        ...


@dataclass(frozen=True)
class Wiring:
    """What a factory builds its event sources from: the program's topology, the functions' environments, the
    emulator's endpoint and the terminal."""

    topology: Topology
    functions: dict[str, FunctionPool]
    endpoint: str
    printer: LogPrinter
    # The credentials of a function's role, by function name: Lambda's mappings read their source with them.
    role: Callable[[str], Credentials]


EventSourceFactory = Callable[[Wiring], list[EventSource]]
