"""How the local cloud reaches an emulator: its endpoint, whether it enforces IAM, and the credentials of its
administrator and of each function role. Over HTTP, so that it serves an embedded emulator, one started apart with
`tasktrail emulator`, and another AWS emulator (LocalStack, a plain moto server), which enforces nothing here."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from local.emulator.account import REGION
from local.emulator.control import PREFIX
from local.emulator.credentials import Credentials

# What any emulator that does not enforce IAM accepts.
ANY_CREDENTIALS = Credentials("testing", "testing")


@dataclass
class EmulatorAccess:
    """The endpoint, the administrator (None: IAM is not enforced) and, on demand, each role's credentials."""

    endpoint: str
    admin: Credentials | None
    _roles: dict[str, Credentials] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def discover(cls, endpoint: str) -> EmulatorAccess:
        """Ask the emulator at `endpoint` how to reach it (an emulator of another kind enforces nothing)."""
        try:
            with urlopen(f"{endpoint}{PREFIX}admin", timeout=10) as response:  # noqa: S310 - the user's local endpoint
                document = json.load(response)
        except (HTTPError, URLError, ValueError):
            return cls(endpoint, None)
        if not document.get("iamEnforced"):
            return cls(endpoint, None)
        return cls(endpoint, Credentials(document["accessKeyId"], document["secretAccessKey"]))

    @property
    def enforced(self) -> bool:
        return self.admin is not None

    def admin_credentials(self) -> Credentials:
        """For the local cloud's own set-up calls, the operator commands and the user's AWS CLI."""
        return self.admin or ANY_CREDENTIALS

    def role_credentials(self, role_arn: str, session_name: str) -> Credentials:
        """The role's credentials, as the Lambda service obtains them (one set per role, reused)."""
        if not self.enforced:
            return ANY_CREDENTIALS
        with self._lock:
            if role_arn not in self._roles:
                request = Request(  # noqa: S310 - the emulator's own endpoint
                    f"{self.endpoint}{PREFIX}assume-role",
                    data=json.dumps({"roleArn": role_arn, "sessionName": session_name}).encode(),
                    method="POST",
                    headers={"Content-Type": "application/json"},
                )
                with urlopen(request, timeout=10) as response:  # noqa: S310
                    document = json.load(response)
                self._roles[role_arn] = Credentials(
                    document["AccessKeyId"], document["SecretAccessKey"], document["SessionToken"]
                )
            return self._roles[role_arn]

    def client(self, service: str, credentials: Credentials | None = None, **config: Any) -> Any:
        """A boto3 client of `service` on the emulator (the administrator's unless other credentials are given)."""
        import boto3
        from botocore.config import Config

        chosen = credentials or self.admin_credentials()
        session = boto3.session.Session(region_name=REGION, **chosen.as_client_arguments())
        return session.client(service, endpoint_url=self.endpoint, config=Config(**config) if config else None)  # type: ignore[call-overload]
