"""CloudWatch Logs, locally: the functions' structured JSON logs (Powertools) become one readable terminal line each,
and the local cloud's own messages go to the same terminal without interleaving."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from typing import Any, TextIO

# Keys every Powertools record carries; they say nothing about the task, so they stay off the line.
_NOISE = {
    "level",
    "message",
    "timestamp",
    "location",
    "service",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "xray_trace_id",
    "sampling_rate",
    "exception",
    "exception_name",
    "stack_trace",
}
_FIRST = ("taskId", "correlation_id", "attempt", "status", "type", "visibilityTimeout", "error")
_TIME = re.compile(r"\d{2}:\d{2}:\d{2}[.,]\d{3}")
_COLOURS = {"DEBUG": "\033[2m", "INFO": "\033[36m", "WARNING": "\033[33m", "ERROR": "\033[31m", "CRITICAL": "\033[31m"}
_RESET = "\033[0m"
_MAX_VALUE = 120
# Full tracebacks only where something is wrong; warnings about handled failures get a one-line summary.
_TRACEBACK_LEVELS = {"ERROR", "CRITICAL"}


def _clock(record: dict[str, Any]) -> str:
    match = _TIME.search(str(record.get("timestamp", "")))
    if match:
        return match.group(0).replace(",", ".")
    now = time.time()
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _fields(record: dict[str, Any]) -> str:
    keys = [k for k in _FIRST if k in record] + sorted(k for k in record if k not in _NOISE and k not in _FIRST)
    return " ".join(f"{k}={_value(record[k])}" for k in keys)


def _metrics(record: dict[str, Any]) -> str:
    names = [m["Name"] for block in record["_aws"].get("CloudWatchMetrics", []) for m in block.get("Metrics", [])]
    return "metrics " + " ".join(f"{n}={_value(record.get(n))}" for n in names)


class LogPrinter:
    """Prints lines from several functions without interleaving them; one instance per terminal."""

    def __init__(self, stream: TextIO = sys.stdout, colour: bool | None = None, metrics: bool = False) -> None:
        self._stream = stream
        self._metrics = metrics
        self._colour = stream.isatty() if colour is None else colour
        self._lock = threading.Lock()

    def _write(self, text: str) -> None:
        with self._lock:
            self._stream.write(text + "\n")
            self._stream.flush()

    def line(self, source: str, level: str, message: str, fields: str = "", clock: str | None = None) -> None:
        clock = clock or _clock({})
        tag = f"{level:<7}"
        if self._colour:
            tag = f"{_COLOURS.get(level, '')}{tag}{_RESET}"
        self._write(f"{clock} {source:<10} {tag} {message}" + (f"  {fields}" if fields else ""))

    def function_output(self, source: str, raw: str) -> None:
        """One line a function wrote to stdout or stderr: a JSON record, an EMF metrics blob, or plain text."""
        raw = raw.rstrip("\n")
        if not raw:
            return
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            # Lambda's runtime client logs an unhandled error as one record, its traceback lines joined with \r.
            first, *rest = raw.split("\r")
            self.line(source, "ERROR" if first.startswith("[ERROR]") else "TEXT", first)
            if rest:
                self._write("    " + "\n    ".join(line for line in rest if line))
            return
        if "_aws" in record:
            # CloudWatch EMF metrics, not a log line: shown only when asked for.
            if self._metrics:
                self.line(source, "DEBUG", _metrics(record), clock=_clock(record))
            return
        level = str(record.get("level", "INFO")).upper()
        fields = _fields(record)
        exception = str(record.get("exception") or "")
        if exception and level not in _TRACEBACK_LEVELS:
            # A handled failure (a retried record, say) is routine: its last line says enough.
            fields += f" exception={_value(exception.strip().splitlines()[-1])}"
            exception = ""
        self.line(source, level, str(record.get("message", "")), fields.strip(), _clock(record))
        if exception:
            self._write("    " + exception.replace("\n", "\n    "))

    def info(self, message: str) -> None:
        self.line("local", "INFO", message)

    def warning(self, message: str) -> None:
        self.line("local", "WARNING", message)

    def raw(self, text: str) -> None:
        self._write(text)
