"""tasktrail's Lambda code: the whole deployment package (entry points, logic, data access, models)."""
