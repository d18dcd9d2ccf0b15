"""`pulumi up` against the emulator: the stack config as the Pulumi CLI builds it, the program run under Pulumi's mock
runtime, each resource it registers created in the emulator, and what the local cloud runs read back from it."""
