"""boto3 clients, built on first use and cached: importing boto3 is most of a cold start, and AWS_ENDPOINT_URL
in the environment (the local cloud) is honoured by boto3 itself, so no endpoint is passed here."""

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient


def _config() -> "Config":
    from botocore.config import Config

    # Standard mode retries throttling with backoff; short timeouts leave the gateway time to answer 503.
    return Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)


@cache
def dynamodb() -> "DynamoDBClient":
    """The low-level DynamoDB client (no resource layer: it imports more and converts numbers to Decimal)."""
    import boto3

    return boto3.client("dynamodb", config=_config())


@cache
def sqs() -> "SQSClient":
    """The SQS client."""
    import boto3

    return boto3.client("sqs", config=_config())


@cache
def kms() -> "KMSClient":
    """The KMS client (the events' MAC keys; the digests' signatures)."""
    import boto3

    return boto3.client("kms", config=_config())


@cache
def s3() -> "S3Client":
    """The S3 client (the digests)."""
    import boto3

    return boto3.client("s3", config=_config())
