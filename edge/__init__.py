"""Visage edge agent: what runs on the classroom device (camera -> faces -> tracks -> decisions -> MQTT).

Only `shared/` below it; never the server (tests/test_layout_imports.py). The classroom simulator,
which plays a video through edge and server together, lives beside it in `simulate/`.
"""
