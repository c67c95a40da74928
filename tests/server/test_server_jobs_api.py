"""GET /api/v1/jobs and /jobs/<id>: owners see their own jobs' status, progress, result and error."""

from __future__ import annotations

from server.jobs import JobContext, job_handler, run_pending, submit_job


@job_handler("test.api.square")
def square(ctx: JobContext, payload: dict) -> dict:
    ctx.progress(1, 1, message="squared")
    return {"square": payload["x"] ** 2}


@job_handler("test.api.explode")
def explode(ctx: JobContext, payload: dict) -> None:
    raise ValueError("the photo folder is empty")


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_the_owner_follows_a_job_from_queued_to_succeeded(app, client, db, make_user, make_token):
    owner = make_user("album_user")
    token = make_token(owner)
    job = submit_job(db, "test.api.square", payload={"x": 7}, owner_id=owner.id)
    db.commit()

    queued = client.get(f"/api/v1/jobs/{job.id}", headers=auth(token))
    assert queued.status_code == 200
    assert queued.json["status"] == "queued"
    assert queued.json["progress"] == {"done": 0, "total": None, "fraction": None}

    run_pending(app)
    done = client.get(f"/api/v1/jobs/{job.id}", headers=auth(token)).json
    assert done["status"] == "succeeded"
    assert done["result"] == {"square": 49}
    assert done["progress"] == {"done": 1, "total": 1, "fraction": 1.0}
    assert done["message"] == "squared"
    assert done["finished_at"].endswith("Z")
    assert "payload" not in done


def test_a_failed_job_reports_its_error(app, client, db, make_user, make_token):
    owner = make_user("album_user")
    job = submit_job(db, "test.api.explode", owner_id=owner.id)
    db.commit()
    run_pending(app)
    body = client.get(f"/api/v1/jobs/{job.id}", headers=auth(make_token(owner))).json
    assert body["status"] == "failed"
    assert body["error"] == "ValueError: the photo folder is empty"


def test_other_accounts_cannot_see_a_job_but_administrators_can(app, client, db, make_user, make_token):
    owner = make_user("album_user")
    other = make_user("album_user")
    admin = make_user("admin")
    job = submit_job(db, "test.api.square", payload={"x": 2}, owner_id=owner.id)
    db.commit()
    hidden = client.get(f"/api/v1/jobs/{job.id}", headers=auth(make_token(other)))
    assert hidden.status_code == 404
    assert hidden.json == {"error": f"no job {job.id}"}
    assert client.get(f"/api/v1/jobs/{job.id}", headers=auth(make_token(admin))).status_code == 200
    assert client.get(f"/api/v1/jobs/{job.id}").status_code == 401


def test_the_list_holds_only_the_callers_jobs_newest_first_and_filters(
    app, client, db, make_user, make_token
):
    owner = make_user("album_user")
    other = make_user("album_user")
    first = submit_job(db, "test.api.square", payload={"x": 1}, owner_id=owner.id)
    failing = submit_job(db, "test.api.explode", owner_id=owner.id)
    submit_job(db, "test.api.square", payload={"x": 3}, owner_id=other.id)
    db.commit()
    run_pending(app)
    token = make_token(owner)
    listed = client.get("/api/v1/jobs", headers=auth(token)).json["jobs"]
    assert [job["id"] for job in listed] == [failing.id, first.id]
    failed = client.get("/api/v1/jobs?status=failed", headers=auth(token)).json["jobs"]
    assert [job["id"] for job in failed] == [failing.id]
    by_kind = client.get("/api/v1/jobs?kind=test.api.square&limit=1", headers=auth(token)).json["jobs"]
    assert [job["id"] for job in by_kind] == [first.id]

    bad = client.get("/api/v1/jobs?status=lost", headers=auth(token))
    assert bad.status_code == 400 and "status must be one of" in bad.json["error"]
    assert client.get("/api/v1/jobs?limit=0", headers=auth(token)).status_code == 400
