"""Visage edge agent: what runs on the classroom device (camera -> faces -> tracks -> decisions -> MQTT).

agent.py      the loop: capture -> detect -> track -> (align, quality, embed) -> outbox
capture.py    camera, RTSP or file, paced      schedule.py  when to run the full-frame detector
tracker.py    faces across frames              recognizer.py  per-track identity decisions
gallery.py    the room's gallery, verified, kept on disk for offline recognition
outbox.py     the durable outbox (a sighting leaves only on PUBACK)
mqtt.py       the MQTT link: batches at QoS 1, retained status, commands in
telemetry.py  health figures       commands.py  server commands: validate, execute, acknowledge
models_sync.py  the model bundle from the server      config.py  the agent's settings file

Only `shared/` below it; never the server or the simulator (tests/test_layout_imports.py): it
installs alone with `pip install '.[edge]'`. The classroom simulator, which plays a video through
edge and server together, lives beside it in `simulate/`.
"""
