"""Floor processing: Powertools' batch utility, each record's body validated with a pydantic model, around the
baseline's SUCCEEDED."""

from baseline.processing import process

from floor._batch import sqs_consumer

handler = sqs_consumer(process, "TasksSucceeded")
