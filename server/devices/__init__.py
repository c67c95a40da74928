"""Device operations: the administrators' view of every edge device's health, telemetry and refused
messages (pages in `views`, JSON in `api`, queries in `service`)."""
