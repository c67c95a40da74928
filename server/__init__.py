"""Visage server: Flask app, MQTT ingest, jobs, web UI and REST API. Built in a later issue."""
