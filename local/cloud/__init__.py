"""Running the whole local cloud: up in order and down in reverse (`lifecycle.py`), started as a child process
(`launch.py`), and the state a running one leaves for other commands (`state.py`)."""
