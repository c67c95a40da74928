"""Attendance of lecture sessions: from stored sightings to statuses an instructor reviews.

One concern per module:

    engine      the pure engine: one session's sightings -> a status per student and per period
    service     a session's attendance from the database (inputs, engine, overrides)
    loading     what every page and endpoint reads before it answers;  clock: the local day
    presence    the live state of a running session (who is in the room, who walked out)
    review      the instructor's changes, each validated whole and audited
    unknown, clusters, suggestions   unknown faces, the same stranger across tracks, who it might be
    learning    a face identified in review becomes an enrolment photo
    face_search search unknown faces by a key photo;  export: CSV
    access      who may see and change which attendance
    refresh     the rows derived from sightings (attach, unknown faces, clusters): written by ingest's
                `attendance.refresh` job and when a session is scheduled, never on a read
    api, unknown_api, views   the front ends;  schemas: the API's JSON shapes (pydantic models)

Sightings reach a session through ingest (`server.ingest`); which lecture a sighting belongs to is
one rule, `server.school.schedule.lecture_at`. Details: docs/attendance.md.
"""
