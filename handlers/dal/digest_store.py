"""The digest bucket and the signing key: the only code that writes the audit trail's proof.

Every object is written once, with If-None-Match: a retried batch or a second sealer finds its object there and
moves on; the bucket's Object Lock (compliance mode) keeps each version for the retention, whoever asks.
"""

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from handlers.errors import ServiceUnavailableError
from handlers.models.digests import SIGNING_ALGORITHM

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client


class DigestStoreUnavailableError(ServiceUnavailableError):
    """The digest bucket or the signing key could not be used."""


@dataclass(frozen=True)
class StoredObject:
    """An object of the digest bucket: its bytes, and the version they are."""

    key: str
    version_id: str
    body: bytes


@dataclass(frozen=True)
class ObjectVersion:
    """One version of a key, or a delete marker, as list_object_versions tells them."""

    key: str
    version_id: str
    latest: bool
    delete_marker: bool
    last_modified: str


class DigestStore:
    """The digest bucket of one stack, through one S3 client."""

    def __init__(self, client: "S3Client", bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put_new(self, key: str, body: bytes) -> str | None:
        """Write the object unless the key exists; its version id, or None when it was there already. The bucket's
        default retention locks it (compliance mode); botocore sends the checksum Object Lock requires."""
        try:
            answer = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*", ContentType="application/json"
            )
        except ClientError as exc:
            if _code(exc) in {"PreconditionFailed", "412", "ConditionalRequestConflict"}:
                return None
            raise DigestStoreUnavailableError(f"could not write {key}: {exc}") from exc
        except BotoCoreError as exc:
            raise DigestStoreUnavailableError(f"could not write {key}: {exc}") from exc
        return str(answer.get("VersionId") or "null")

    def get(self, key: str, version_id: str | None = None) -> StoredObject | None:
        """The object (its latest version, or the one asked for); None if there is none."""
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id and version_id != "null":
            request["VersionId"] = version_id
        try:
            answer = self.client.get_object(**request)
            body = answer["Body"].read()
        except ClientError as exc:
            if _code(exc) in {"NoSuchKey", "404", "NoSuchVersion", "InvalidArgument"}:
                return None
            raise DigestStoreUnavailableError(f"could not read {key}: {exc}") from exc
        except BotoCoreError as exc:
            raise DigestStoreUnavailableError(f"could not read {key}: {exc}") from exc
        return StoredObject(key, str(answer.get("VersionId") or "null"), body)

    def keys(self, prefix: str, start_after: str | None = None, max_keys: int | None = None) -> list[str]:
        """The keys under `prefix` (after `start_after`), in key order; the first `max_keys` only, if given."""
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            request["StartAfter"] = start_after
        if max_keys:
            request["PaginationConfig"] = {"MaxItems": max_keys, "PageSize": max_keys}
        found: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**request):
                found += [str(item["Key"]) for item in page.get("Contents", [])]
        except (BotoCoreError, ClientError) as exc:
            raise DigestStoreUnavailableError(f"could not list {prefix}: {exc}") from exc
        return sorted(found)

    def versions(self, prefix: str) -> list[ObjectVersion]:
        """Every version and delete marker under `prefix`: what tells an edited or deleted digest."""
        found: list[ObjectVersion] = []
        try:
            for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix):
                for kind, marker in (("Versions", False), ("DeleteMarkers", True)):
                    found += [
                        ObjectVersion(
                            str(item["Key"]),
                            str(item.get("VersionId") or "null"),
                            bool(item.get("IsLatest")),
                            marker,
                            str(item.get("LastModified", "")),
                        )
                        for item in page.get(kind, [])  # type: ignore[attr-defined]
                    ]
        except (BotoCoreError, ClientError) as exc:
            raise DigestStoreUnavailableError(f"could not list the versions under {prefix}: {exc}") from exc
        return found


class DigestSigner:
    """The stack's asymmetric KMS key (ECC_NIST_P256): signs a digest's SHA-256, and checks a signature."""

    def __init__(self, client: "KMSClient", key_id: str) -> None:
        self.client = client
        self.key_id = key_id

    def sign(self, digest_hash: bytes) -> str:
        """The base64 DER ECDSA signature of a SHA-256 digest (MessageType DIGEST: KMS does not hash it again)."""
        try:
            answer = self.client.sign(
                KeyId=self.key_id, Message=digest_hash, MessageType="DIGEST", SigningAlgorithm=SIGNING_ALGORITHM
            )
        except (BotoCoreError, ClientError) as exc:
            raise DigestStoreUnavailableError(f"could not sign the digest: {exc}") from exc
        return base64.b64encode(answer["Signature"]).decode()

    def verify(self, digest_hash: bytes, signature: str) -> bool:
        """Whether the signature is the key's over that SHA-256 (asked of KMS: no key material here)."""
        try:
            answer = self.client.verify(
                KeyId=self.key_id,
                Message=digest_hash,
                MessageType="DIGEST",
                Signature=base64.b64decode(signature),
                SigningAlgorithm=SIGNING_ALGORITHM,
            )
        except ClientError as exc:
            if _code(exc) == "KMSInvalidSignatureException":
                return False
            raise DigestStoreUnavailableError(f"could not check a digest's signature: {exc}") from exc
        except BotoCoreError as exc:
            raise DigestStoreUnavailableError(f"could not check a digest's signature: {exc}") from exc
        return bool(answer.get("SignatureValid"))

    def public_key(self) -> bytes:
        """The public key, DER SubjectPublicKeyInfo."""
        try:
            return bytes(self.client.get_public_key(KeyId=self.key_id)["PublicKey"])
        except (BotoCoreError, ClientError) as exc:
            raise DigestStoreUnavailableError(f"could not read the signing key's public key: {exc}") from exc


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
