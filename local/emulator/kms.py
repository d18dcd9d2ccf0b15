"""Narrow patches of moto's KMS for the embedded emulator, each with a test that fails without it:

- Sign and Verify with MessageType=DIGEST sign the digest itself, as KMS does. moto reads MessageType and drops it,
  so it hashed the digest again: its signatures then verified with its own Verify (which hashed again too) and never
  offline with the public key (getmoto/moto#10202, open). ECDSA keys only: the digests' signing key is ECC_NIST_P256.
- A request is authorised against the key it names (its ARN, from a key id, a key ARN, an alias or an alias ARN), as
  IAM does, not against "*": a policy that allows one key ARN is honoured, and refuses every other key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from moto.kms.exceptions import ValidationException
from moto.kms.responses import KmsResponse
from moto.kms.utils import ECDSAPrivateKey, validate_signing_algorithm

_request = threading.local()  # this request's MessageType, for the key object moto's backend calls
_sign, _verify = ECDSAPrivateKey.sign, ECDSAPrivateKey.verify
_respond_sign, _respond_verify = KmsResponse.sign, KmsResponse.verify


def _remembering_message_type(respond: Callable[[KmsResponse], str]) -> Callable[[KmsResponse], str]:
    def answer(self: KmsResponse) -> str:
        _request.message_type = self._get_param("MessageType") or "RAW"
        try:
            return respond(self)
        finally:
            _request.message_type = "RAW"

    return answer


def _prehashed(key: ECDSAPrivateKey, digest: bytes, algorithm: str) -> ec.ECDSA:
    validate_signing_algorithm(algorithm, key.valid_signing_algorithms)
    hash_algorithm = key._ECDSAPrivateKey__hash_algorithm(algorithm)  # type: ignore[attr-defined] # name-mangled
    if len(digest) != hash_algorithm.digest_size:  # as KMS answers a digest of the wrong length
        raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")
    return ec.ECDSA(Prehashed(hash_algorithm))


def _sign_digest(self: ECDSAPrivateKey, message: bytes, signing_algorithm: str) -> bytes:
    if getattr(_request, "message_type", "RAW") != "DIGEST":
        return _sign(self, message, signing_algorithm)
    return bytes(self.private_key.sign(message, _prehashed(self, message, signing_algorithm)))


def _verify_digest(self: ECDSAPrivateKey, message: bytes, signature: bytes, signing_algorithm: str) -> bool:
    if getattr(_request, "message_type", "RAW") != "DIGEST":
        return bool(_verify(self, message, signature, signing_algorithm))
    try:
        self.private_key.public_key().verify(signature, message, _prehashed(self, message, signing_algorithm))
    except InvalidSignature:
        return False
    return True


def _authorised_key(self: KmsResponse) -> str:
    key_id = (getattr(self, "parameters", None) or {}).get("KeyId") or self._get_param("KeyId")
    if not key_id:
        return "*"  # CreateKey, ListKeys...: no key to name
    try:
        raw = self.kms_backend.any_id_to_key_id(str(key_id))
    except Exception:  # noqa: BLE001 - an unknown alias: the action itself answers NotFound
        return "*"
    return f"arn:aws:kms:{self.region}:{self.current_account}:key/{raw}"


def install() -> None:
    """Apply the patches (idempotent)."""
    KmsResponse.sign = _remembering_message_type(_respond_sign)  # type: ignore[method-assign,assignment]
    KmsResponse.verify = _remembering_message_type(_respond_verify)  # type: ignore[method-assign,assignment]
    ECDSAPrivateKey.sign = _sign_digest  # type: ignore[method-assign]
    ECDSAPrivateKey.verify = _verify_digest  # type: ignore[method-assign]
    KmsResponse._determine_resource = _authorised_key  # type: ignore[attr-defined]
