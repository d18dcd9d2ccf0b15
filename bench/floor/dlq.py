"""Floor dead-letter consumer: Powertools' batch utility, each record's body validated with a pydantic model, around
the baseline's history read and two puts."""

from baseline.dlq import dead_letter

from floor._batch import sqs_consumer

handler = sqs_consumer(dead_letter, "TasksDeadLettered")
