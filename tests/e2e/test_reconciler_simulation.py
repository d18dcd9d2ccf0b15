"""bench/reconciler.py at test size: the reconciler run on its schedule against the AWS emulator (a child process, as
`tasktrail emulator`), over a table seeded with a steady rate of tasks and a few stranded ones placed at random. Every
stranded task is re-sent within its bound, none twice, nothing else is re-sent, and each index entry is examined once.
`make bench-reconciler` runs it at full size (100 tasks/s) and prints the figures."""

from __future__ import annotations

# The functions' environment first, as the integration tier sets it: handlers.observability reads it once per process
# (the metrics namespace, the service), and the in-process tests of tests/reliability may run in this process after
# this file (pytest-xdist) or be collected after it.
import tests.integration.conftest  # noqa: F401, I001 - for its side effect, before the handlers are imported
from bench.reconciler import simulation


def test_every_stranded_task_is_re_sent_within_its_bound_and_none_twice() -> None:
    # 20 tasks/s for 3 minutes, one run a minute, re-sent after 2 minutes: three runs find whole minutes of entries.
    outcome = simulation(rate=20, minutes=3, stranded=6, interval=60, stranded_after=120, seed=7)
    assert outcome.sim.tasks == 3_600 and len(outcome.sim.stranded) == 6
    waited = outcome.waited()
    assert all(wait <= outcome.bound for wait in waited.values()), (waited, outcome.bound)
    assert {task: outcome.sent[task] for task in outcome.sim.stranded} == dict.fromkeys(outcome.sim.stranded, 1)
    assert outcome.not_stranded_resent == []
    # The seeded entries and each re-send's own REENQUEUED entry that came due before the last run, once each; the
    # first minute's re-sends came due, so a re-send's own entry is examined too.
    assert outcome.examined == outcome.entries_due > outcome.sim.tasks
    assert all(run.complete for run in outcome.runs)
