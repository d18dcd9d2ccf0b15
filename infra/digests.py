"""Where the audit trail's proof lives: the digest bucket (S3, versioned, Object Lock in compliance mode, so that no
one can delete or overwrite a digest within the retention, the account's root included), the signing key (KMS,
ECC_NIST_P256, whose public key is a stack output so that anyone can verify a digest offline), and the MAC key (KMS
HMAC_256) from which the handlers derive the day keys of their events' MACs."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.naming import digest_bucket_prefix


@dataclass(frozen=True)
class AuditDigestsArgs:
    """The physical-name prefix and how long each digest is locked."""

    name_prefix: str
    retention_days: int


class AuditDigests(pulumi.ComponentResource):
    """The digest bucket and the two keys."""

    bucket: aws.s3.Bucket
    signing_key: aws.kms.Key
    mac_key: aws.kms.Key
    public_key_pem: pulumi.Output[str]

    def __init__(self, name: str, args: AuditDigestsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tasktrail:index:AuditDigests", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # Auto-named from a prefix: bucket names are global, and a replacement must not collide with its original.
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket", bucket_prefix=digest_bucket_prefix(args.name_prefix), object_lock_enabled=True, opts=child
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        aws.s3.BucketObjectLockConfiguration(
            f"{name}-lock",
            bucket=self.bucket.id,
            object_lock_enabled="Enabled",
            # Compliance: no principal can delete or shorten the lock of a digest before its retention ends.
            rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                    mode="COMPLIANCE", days=args.retention_days
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=(
                        aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="AES256"
                        )
                    )
                )
            ],
            opts=child,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        self.signing_key = aws.kms.Key(
            f"{name}-signing-key",
            description=f"{args.name_prefix}: signs the audit trail's digests",
            customer_master_key_spec="ECC_NIST_P256",
            key_usage="SIGN_VERIFY",
            deletion_window_in_days=30,
            opts=child,
        )
        self.mac_key = aws.kms.Key(
            f"{name}-mac-key",
            description=f"{args.name_prefix}: derives the day keys of the audit events' MACs",
            customer_master_key_spec="HMAC_256",
            key_usage="GENERATE_VERIFY_MAC",
            deletion_window_in_days=30,
            opts=child,
        )
        # Published, so that a digest's signature can be checked offline, with no AWS credentials.
        self.public_key_pem = aws.kms.get_public_key_output(key_id=self.signing_key.arn).public_key_pem
        self.register_outputs(
            {
                "bucket": self.bucket.bucket,
                "signingKeyArn": self.signing_key.arn,
                "macKeyArn": self.mac_key.arn,
                "publicKeyPem": self.public_key_pem,
            }
        )
