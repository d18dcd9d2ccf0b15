"""The HTTP layer of the gateway: request guard, resolver, routes and error answers."""
