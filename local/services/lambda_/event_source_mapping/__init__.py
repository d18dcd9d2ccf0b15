"""Lambda's event source mappings, one poller module per source service (the AWS service of the source ARN)."""
