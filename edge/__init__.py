"""Visage edge agent: runs on the classroom device (camera -> faces -> MQTT). Built in a later issue."""
