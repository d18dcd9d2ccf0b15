"""Hand-written handlers for the cold-start bench (bench/coldstart.py): each makes the same AWS calls as its tasktrail
function with plain boto3, clients built at init, no Powertools, no pydantic: what a careful seed would deploy."""
