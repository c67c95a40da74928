"""School management: courses, students and rosters, classrooms, devices and the lecture schedule.

One concern per module:

    errors      what the services raise: the server's one ServiceError family (`server.errors`)
    fields      reading and validating request values (shared by the API and the web forms)
    unique      names unique regardless of case (course codes, room names, device ids)
    times       ISO 8601 instants, local dates and times, weekly series through zoneinfo
    access      who may see which course, student and session (instructors: their own courses)
    signals     notifications other parts subscribe to (roster changes, student erasure)
    courses     create, edit and delete courses
    students    create, edit and erase students; roster changes
    rooms       classrooms and devices
    schedule    lecture sessions, overlap checks, and THE rule for which session a sighting belongs
                to (`lecture_at`: ingest, attendance and `current_session_for_device` use it)
    calibration per-course recognition thresholds from the course's enrolment photos
    schemas     the API's JSON shapes (pydantic models)
    api, calibration_api   the /api/v1 endpoints;  views: the web pages (blueprint `school`)
"""

from server.school.schedule import current_session_for_device, next_session_for_device

__all__ = ["current_session_for_device", "next_session_for_device"]
