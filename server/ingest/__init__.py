"""`visage server ingest`: MQTT messages from classroom devices into the database.

`store` validates and writes a batch of received messages in one transaction (pure database work,
testable without a broker); `worker` subscribes with a shared subscription, queues what arrives and
acknowledges each message only after the transaction holding it committed; `watch` says when it
should act at once. The other way, server -> device, from the same process: `publisher` (each
device's gallery, retained, and commands) and `models_publisher` (the model bundle announcement).
"""

from server.ingest.store import Incoming, IngestSettings, Outcome, process_batch
from server.ingest.worker import IngestWorker

__all__ = ["Incoming", "IngestSettings", "IngestWorker", "Outcome", "process_batch"]
