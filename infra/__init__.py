"""Pulumi components of the tasktrail pipeline: queues, audit table, functions, API, alarms."""
