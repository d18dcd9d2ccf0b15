"""The one account and region the local cloud lives in: the emulator's defaults, and what every ARN it makes says."""

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
