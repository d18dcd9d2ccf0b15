"""AWS credentials as the local cloud hands them around: to boto3, and to a function's environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Credentials:
    """AWS credentials: an access key, its secret and, for an assumed role, its session token."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def as_environment(self) -> dict[str, str]:
        """As Lambda hands them to an environment (the variables boto3 reads)."""
        variables = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            variables["AWS_SESSION_TOKEN"] = self.session_token
        return variables

    def as_client_arguments(self) -> dict[str, Any]:
        """As boto3's session or client arguments."""
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }
