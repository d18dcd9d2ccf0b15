"""The AWS services moto does not run, emulated from the program's own declarations, one module (or folder) per
service; `event_source.py` is the protocol every event source follows and `registry.py` the list of them."""
