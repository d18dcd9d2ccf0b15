"""The one text form of a moment in tasktrail: ISO 8601, UTC, milliseconds and `Z` (2026-11-29T10:00:00.123Z).
Every event's `at` is written in it, so that the status index sorts by time as text."""

from datetime import UTC, datetime


def format_at(moment: datetime) -> str:
    """A moment as event time text; a naive datetime is taken as UTC."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_at() -> str:
    """Now, as event time text."""
    return format_at(datetime.now(UTC))


def parse_at(text: str) -> datetime:
    """Event time text (or any ISO 8601 time; naive is UTC) as an aware datetime; ValueError if it is not one."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
