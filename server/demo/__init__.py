"""Demo data for `visage demo`: accounts, a classroom with a lecture now (`seed`), and the optional
parts' samples, an album and a deepfake check (`extras`). Nothing here runs in production."""
