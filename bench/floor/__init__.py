"""The Powertools floor of bench/coldstart.py: each baseline's work (bench/baseline/) behind the tools the project's
standard asks of the function (Powertools' Logger, Metrics and Tracer with the X-Ray SDK, its REST resolver or batch
utility, a pydantic model validating the input) and nothing of the project's own code. What a function costs above
its floor is the project's; what the floor costs above the baseline is the price of the tools themselves."""
