"""School management: courses, students and rosters, classrooms, devices and the lecture schedule.

One concern per module:

    errors      the exceptions services raise (each with an HTTP status and a sentence)
    fields      reading and validating request values (shared by the API and the web forms)
    times       ISO 8601 instants, local dates and times, weekly series through zoneinfo
    access      who may see which course, student and session (instructors: their own courses)
    signals     notifications other parts subscribe to (roster changes, student erasure)
    courses     create, edit and delete courses
    students    create, edit and erase students; roster changes
    rooms       classrooms and devices
    schedule    lecture sessions, overlap checks, `current_session_for_device`
    serialize   the JSON shapes of the API
    api         the /api/v1 endpoints;  views: the web pages (blueprint `school`)
"""

from server.school.schedule import current_session_for_device, next_session_for_device

__all__ = ["current_session_for_device", "next_session_for_device"]
