"""The constants of tasktrail's contract, each defined once. handlers/ imports nothing outside itself, so the one
source of each lives here, and infra/, local/, the tests and the benches import it from here."""

from typing import Literal, get_args

# Every route lives under this path, on the REST API's one stage.
API_BASE_PATH = "/api/v1"
STAGE_NAME = "prod"

# How callers authenticate to the deployed API: an x-api-key (with a usage plan), SigV4, or nothing at all.
ApiAuth = Literal["apiKey", "iam", "none"]
API_AUTH_MODES: tuple[ApiAuth, ...] = get_args(ApiAuth)
API_KEY_HEADER = "x-api-key"

# The gateway answers a larger body 413: the most one SQS message can carry.
MAX_BODY_BYTES = 262_144

# SQS caps a message's visibility timeout (and so a retry's backoff) at 12 hours.
SQS_MAX_VISIBILITY_TIMEOUT = 43_200
