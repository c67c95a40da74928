"""Who an unknown face might be: the roster ranked by similarity, for the instructor to choose from.

A suggestion never decides anything: the assign control lists the top few with their scores and
pre-selects none, because one careless click would otherwise hand a whole stranger's sightings to
whichever student happened to be first. A roster student is scored as devices score faces (see
`server.faces.embeddings`): the highest cosine similarity between any of the face's embeddings
(every member of its cluster) and any of the student's enrolled embeddings or their template, of the
same embedder only (vectors of different models are not comparable).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.attendance.clusters import vector_of
from server.db.models import FaceTemplate, Student, course_students

TOP = 3


@dataclass(frozen=True)
class Suggestion:
    student_id: int
    student_number: str
    name: str
    score: float

    def as_json(self) -> dict[str, object]:
        return {
            "student_id": self.student_id,
            "student_number": self.student_number,
            "name": self.name,
            "score": round(self.score, 4),
        }


def roster_vectors(db: Session, course_id: int, model: str) -> dict[int, tuple[Student, np.ndarray]]:
    """Per roster student with faces of `model`: (student, their unit embeddings stacked)."""
    rows = db.execute(
        select(Student, FaceTemplate.embedding)
        .join(course_students, course_students.c.student_id == Student.id)
        .join(FaceTemplate, FaceTemplate.student_id == Student.id)
        .where(course_students.c.course_id == course_id, FaceTemplate.model == model)
        .order_by(Student.id, FaceTemplate.id)
    )
    grouped: dict[int, list[np.ndarray]] = defaultdict(list)
    students: dict[int, Student] = {}
    for student, data in rows:
        vector = vector_of(data)
        if vector is not None:
            grouped[student.id].append(vector)
            students[student.id] = student
    return {sid: (students[sid], np.stack(vectors)) for sid, vectors in grouped.items()}


def rank(
    faces: Sequence[np.ndarray], roster: dict[int, tuple[Student, np.ndarray]], top: int = TOP
) -> list[Suggestion]:
    """The `top` roster students most like any of `faces` (unit vectors), best first."""
    if not faces or not roster:
        return []
    probe = np.stack(faces)
    scored = []
    for student, vectors in roster.values():
        score = float((probe @ vectors.T).max())
        scored.append(Suggestion(student.id, student.student_number, student.name, score))
    scored.sort(key=lambda s: (-s.score, s.student_number))
    return scored[:top]
