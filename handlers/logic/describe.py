"""Short, payload-free descriptions of errors, for events, logs and API answers."""

from collections.abc import Iterable, Mapping
from typing import Any

MAX_ERROR_CHARS = 1000


def describe_exception(exc: BaseException) -> str:
    """`Type: message`, cut to a size that fits an audit event."""
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


def describe_validation(errors: Iterable[Mapping[str, Any]]) -> str:
    """`field.path: what is wrong; ...` from pydantic-style errors, without their input values."""
    parts = [
        f"{'.'.join(str(part) for part in error.get('loc', ())) or 'body'}: {error.get('msg')}" for error in errors
    ]
    return "; ".join(parts)[:MAX_ERROR_CHARS]
