"""Attendance: the pure engine (engine.py) and, in the server, its views and API."""
