"""Notifications other parts of the server subscribe to, so that this package need not import them.

Both are sent inside the transaction of the change, before the caller commits: a receiver adds
its own changes to the same session (`db`) and they commit, or roll back, together. A receiver
that must touch something outside the database (files in storage) should do so only after the
commit, e.g. by queueing the work in the same transaction.

    from server.school.signals import roster_changed, student_erasing

    @roster_changed.connect
    def bump_gallery(_sender, db, course_id, added, removed, actor): ...

`roster_changed(db, course_id, added, removed, actor)`: student ids added to / removed from a
course's roster (a course's gallery changes with it). Also sent for every course of a student
who is being erased.
`student_erasing(db, student, actor)`: the student row and everything that holds their face
(templates, photos, sightings with thumbnails) are about to be deleted; delete what you own.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

roster_changed = _signals.signal("visage.school.roster-changed")
student_erasing = _signals.signal("visage.school.student-erasing")
