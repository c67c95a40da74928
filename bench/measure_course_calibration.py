#!/usr/bin/env python3
"""Per-course calibration on the demo's course and on a course of ten people with ten photos each.

The demo's course is built exactly as `visage demo` builds it: the simulated classroom (24 seats,
seed 0 by default) casts people from ../shared/data/lfw_deepfunneled_pairs/images, and the server's
real enrolment pipeline (MTCNN -> quality gate -> SFace) enrols each roster member's photos into a
fresh SQLite database; then `server.school.calibration` computes what the course page shows.
Then courses of one student per person folder are enrolled the same way (at most
ENROLMENT_MAX_PHOTOS_PER_STUDENT photos each, through the same gate): lfw_subset_10x10 (10 people x
10 photos) and the East-Asian people of lfw_east_asian_dev (24 people, 2 to 12 photos), a class
like the ones this project was started for. Figures go into
docs/attendance.md ("Per-course thresholds"). A measurement, not a benchmark of speed.

    .venv/bin/python bench/measure_course_calibration.py [--seeds 0 1 2] [--seats 24] [--folders ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # bench/ is not a package: the scripts are run by path


def summary(calibration: dict) -> dict:
    p = calibration["proposal"]
    keys = ("students", "students_with_photos", "faces", "genuine_pairs", "impostor_pairs", "refused")
    keys += ("genuine_range", "impostor_range", "threshold", "unknown_threshold", "below_global")
    keys += ("global_threshold", "at_proposed", "at_global", "accuracy_threshold")
    return {key: p[key] for key in keys}


def demo_course(app, faces: Path, cache: Path, seed: int, seats: int) -> dict:
    from server.db import get_db
    from server.db.models import Course
    from server.demo.seed import seed_accounts, seed_school
    from server.school import calibration
    from visage.subcommands.demo import enrolment_gate
    from visage.subcommands.demo_classroom import prepare_classroom

    with app.app_context():
        classroom = prepare_classroom(faces, cache, seed=seed, accept_photo=enrolment_gate(app), seats=seats)
        with get_db(app).session() as session:
            seed_accounts(app, session, Path(app.instance_path))
            world = seed_school(session, classroom.enrol, datetime.now(timezone.utc), classroom.duration_s)
            course = session.get(Course, world.course_id)
            return summary(calibration.calibration_json(session, course))


def folder_course(app, folder: Path, code: str) -> dict:
    """Every person folder of `folder` as a student of one course, enrolled through the server."""
    from server.db import get_db
    from server.db.models import Course, Student
    from server.demo.seed import ACCOUNTS, find_user
    from server.enrolment import service
    from server.school import calibration
    from server.uploads.files import Upload

    with app.app_context(), get_db(app).session() as session:
        admin = find_user(session, ACCOUNTS[0][0])
        people = sorted(p for p in folder.iterdir() if p.is_dir())
        students = [Student(student_number=f"{code}-{i:04d}", name=p.name) for i, p in enumerate(people)]
        course = Course(code=code, title=folder.name, students=students)
        session.add(course)
        session.commit()
        for person, student in zip(people, students, strict=True):
            uploads = [Upload(path.name, path.read_bytes()) for path in sorted(person.glob("*.jpg"))]
            service.upload_photos(session, student, uploads, admin)
            session.commit()
        return summary(calibration.calibration_json(session, course))


def direct_course(folder: Path) -> dict:
    """The same rule on every photo of `folder` (one person per folder), embedded by the face core
    without the enrolment gate (its subject: the face nearest the centre): what calibration says
    when a course has enough pairs."""
    import numpy as np

    from server.school.calibration import propose
    from shared.analysis import FaceAnalyzer
    from shared.embed import DEFAULT_EMBEDDER, embedder_id, require_embedder
    from shared.media import read_image
    from shared.model_registry import ModelRegistry

    analyzer = FaceAnalyzer(ModelRegistry()).prepare()
    owners: list[int] = []
    vectors: list[np.ndarray] = []
    people = sorted(p for p in folder.iterdir() if p.is_dir())
    for index, person in enumerate(people):
        for path in sorted(person.glob("*.jpg")):
            image = read_image(path)
            found = analyzer.get(image)
            if not found:
                continue
            h, w = image.shape[:2]
            main = min(
                found,
                key=lambda f: (
                    abs(float(f.face.box[0] + f.face.box[2]) / 2 - w / 2)
                    + abs(float(f.face.box[1] + f.face.box[3]) / 2 - h / 2)
                ),
            )
            owners.append(index)
            vectors.append(np.asarray(main.embedding, np.float32))
    model = embedder_id(DEFAULT_EMBEDDER)
    strict = float(require_embedder(model)["strict_threshold"])
    proposal = propose(np.array(owners), np.stack(vectors), model, strict, students=len(people))
    return summary({"proposal": proposal.to_dict()})


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=common.DEFAULT_THREADS)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0], help="demo classrooms (none: skip)")
    parser.add_argument(
        "--folders",
        nargs="*",
        default=["lfw_subset_10x10", "lfw_east_asian_dev/people"],
        help="courses of one student per person folder, under ../shared/data",
    )
    parser.add_argument("--seats", type=int, default=24)
    parser.add_argument(
        "--direct",
        nargs="*",
        default=["lfw_subset_10x10", "lfw_east_asian_dev/people"],
        help="the same folders embedded without the enrolment gate",
    )
    return parser.parse_args(argv)


def fresh_app(folder: Path):
    from server.app import create_app
    from server.db.migrate import upgrade

    folder.mkdir(parents=True)
    url = f"sqlite:///{folder / 'visage.db'}"
    upgrade(url)
    return create_app({"INSTANCE_PATH": str(folder / "instance"), "DATABASE_URL": url})


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    common.pin_threads(args.threads)
    from server.db import get_db
    from server.demo.seed import seed_accounts

    data = common.require_data()
    report: dict[str, object] = {"machine": common.machine_info(args.threads), "courses": {}}
    courses: dict[str, dict] = report["courses"]  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            app = fresh_app(Path(tmp) / f"seed{seed}")
            faces = data / "lfw_deepfunneled_pairs" / "images"
            name = f"demo seed {seed}, {args.seats} seats"
            courses[name] = demo_course(app, faces, Path(tmp) / f"seed{seed}" / "classroom", seed, args.seats)
            print(f"{name}: {json.dumps(courses[name])}", flush=True)
        for index, folder in enumerate(args.folders):
            app = fresh_app(Path(tmp) / f"folder{index}")
            with app.app_context(), get_db(app).session() as session:
                seed_accounts(app, session, Path(app.instance_path))
            courses[folder] = folder_course(app, data / folder, f"F{index}")
            print(f"{folder}: {json.dumps(courses[folder])}", flush=True)
    for folder in args.direct:
        name = f"{folder} (every photo, no enrolment gate)"
        courses[name] = direct_course(data / folder)
        print(f"{name}: {json.dumps(courses[name])}", flush=True)
    common.print_json_last(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
