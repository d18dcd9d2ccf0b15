"""The day keys of the events' MACs: derived with KMS GenerateMac on the stack's HMAC key, once per environment and
UTC day (a KMS call per event would cost more than the event's own write). Only a role allowed kms:GenerateMac on
that key can derive them: the handlers', the digest function's, and a verifying operator's."""

from functools import cache
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from handlers.errors import AuditStoreUnavailableError
from handlers.models.integrity import MAC_ALGORITHM, mac_message

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient


class MacKeys:
    """The MAC keys of one table's events, by day, through one KMS client."""

    def __init__(self, client: "KMSClient", key_id: str, table: str) -> None:
        self.client = client
        self.key_id = key_id
        self.table = table
        self._keys: dict[str, bytes] = {}

    def key_for(self, day: str) -> bytes:
        """The MAC key of `day` (YYYY-MM-DD), derived once and kept."""
        key = self._keys.get(day)
        if key is None:
            try:
                answer = self.client.generate_mac(
                    KeyId=self.key_id, Message=mac_message(self.table, day), MacAlgorithm=MAC_ALGORITHM
                )
            except (BotoCoreError, ClientError) as exc:
                raise AuditStoreUnavailableError(f"could not derive the events' MAC key: {exc}") from exc
            key = self._keys[day] = bytes(answer["Mac"])
        return key


@cache
def mac_keys(key_id: str, table: str) -> MacKeys:
    """The environment's MAC keys (kept for its life, as Lambda keeps module state between invocations)."""
    from handlers.dal import clients

    return MacKeys(clients.kms(), key_id, table)
