"""`visage server ingest`: MQTT messages from classroom devices into the database.

`store` validates and writes a batch of received messages in one transaction (pure database work,
testable without a broker); `worker` subscribes with a shared subscription, queues what arrives and
acknowledges each message only after the transaction holding it committed.
"""

from server.ingest.store import Incoming, IngestSettings, Outcome, process_batch
from server.ingest.worker import IngestWorker

__all__ = ["Incoming", "IngestSettings", "IngestWorker", "Outcome", "process_batch"]
