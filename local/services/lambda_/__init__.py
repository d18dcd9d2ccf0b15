"""Lambda, locally: execution environments running the deployment package (`runtime.py`, `bootstrap.py`), and the
event source mappings that invoke them (`event_source_mapping/`)."""
