"""The local cloud's log printer: one readable line per record, full tracebacks only where something is wrong."""

import io
import json

from local.services.logs import LogPrinter

TRACEBACK = "Traceback (most recent call last):\n  File 'x.py', line 1\nValueError: attempt 1 of task 't-1' failed"


def _printed(level: str, **record: object) -> list[str]:
    out = io.StringIO()
    LogPrinter(out, colour=False).function_output("processing", json.dumps({"level": level, **record}))
    return out.getvalue().splitlines()


def test_a_record_is_one_line_with_its_task_fields_first() -> None:
    (line,) = _printed("INFO", message="task succeeded", correlation_id="t-1", attempt=1, cold_start=True)
    assert line.endswith("processing INFO    task succeeded  correlation_id=t-1 attempt=1")


def test_a_handled_failure_shows_only_the_last_line_of_its_traceback() -> None:
    (line,) = _printed("WARNING", message="Record processing exception", exception=TRACEBACK)
    assert line.endswith("exception=ValueError: attempt 1 of task 't-1' failed")


def test_an_error_keeps_its_whole_traceback() -> None:
    lines = _printed("ERROR", message="boom", exception=TRACEBACK)
    assert len(lines) == 4 and lines[1].strip().startswith("Traceback")


def test_metrics_blobs_are_hidden_unless_asked_for() -> None:
    assert _printed("INFO", _aws={"CloudWatchMetrics": []}) == []


def test_the_runtime_clients_error_records_become_an_error_line_and_its_traceback() -> None:
    out = io.StringIO()
    LogPrinter(out, colour=False).function_output(
        "fn", "[ERROR] ValueError: boom\rTraceback (most recent call last):\r  x\n"
    )
    first, *rest = out.getvalue().splitlines()
    assert "ERROR" in first and first.endswith("[ERROR] ValueError: boom")
    assert rest == ["    Traceback (most recent call last):", "      x"]
