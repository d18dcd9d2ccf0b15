"""Business logic: submission, history and replay, processing outcomes, dead-lettering, the default worker."""
