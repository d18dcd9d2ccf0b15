"""The embedded AWS emulator: moto's server made safe for concurrent clients, and narrow patches of moto, one module
per service, where it differs from AWS in a way the local cloud would notice."""
