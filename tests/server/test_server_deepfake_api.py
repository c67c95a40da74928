"""Deepfake checks over the JSON API: upload, queued job with progress, result, history, delete, and
bad media (refused at once when the bytes say so, else a failed job with a sentence, never stuck)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.db.models import CheckStatus, DeepfakeCheck, Job
from server.settings import update_settings
from tests.conftest import data_path
from tests.deepfake_media import counter_video, faststart, wav
from tests.server.test_server_deepfake_support import (
    bearer,
    deepfake_pipeline,  # noqa: F401  (fixture)
    fake_video,
    real_frame,
    run_jobs,
    sample,
    share_pipeline,
    stored_files,
    upload,
    users,
)


@pytest.fixture
def people(app, make_user, make_token, deepfake_pipeline):  # noqa: F811
    share_pipeline(app, deepfake_pipeline)
    return users(make_user, make_token)


def test_upload_queues_a_job_then_the_result_has_probability_timeline_and_faces(app, client, people):
    answer = upload(client, people.alice_token, real_frame(), fake_video())
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    assert body["refused"] == [] and [c["status"] for c in body["checks"]] == ["queued", "queued"]
    assert [c["media_kind"] for c in body["checks"]] == ["image", "video"]
    assert len(stored_files(app)) == 2  # the uploads wait in storage for their jobs
    job = client.get(f"/api/v1/jobs/{body['checks'][1]['job_id']}", headers=bearer(people.alice_token))
    assert job.status_code == 200 and job.get_json()["status"] == "queued"

    assert run_jobs(app) == 2
    for submitted in body["checks"]:
        check = client.get(
            f"/api/v1/deepfake/checks/{submitted['id']}", headers=bearer(people.alice_token)
        ).get_json()
        assert check["status"] == "done" and check["error"] is None
        assert 0.0 <= check["probability"] <= 1.0
        assert check["verdict"] in ("likely_real", "uncertain", "likely_fake") and "65%" in check["note"]
        result = check["result"]
        assert result["frames_with_faces"] >= 1 and len(result["timeline"]) == result["frames_sampled"]
        assert check["progress"]["done"] == check["progress"]["total"]
        assert 1 <= len(check["faces"]) <= 4
        image = client.get(check["faces"][0]["image_url"], headers=bearer(people.alice_token))
        assert (
            image.status_code == 200 and image.mimetype == "image/jpeg" and image.data[:3] == b"\xff\xd8\xff"
        )
    video = client.get(
        f"/api/v1/deepfake/checks/{body['checks'][1]['id']}", headers=bearer(people.alice_token)
    )
    assert video.get_json()["result"]["frames_sampled"] == 3
    job = client.get(
        f"/api/v1/jobs/{body['checks'][1]['job_id']}", headers=bearer(people.alice_token)
    ).get_json()
    assert job["status"] == "succeeded"
    assert stored_files(app) == []  # uploads are not kept once scored


def test_history_is_newest_first_with_paging_and_delete_removes_the_check(app, client, db, people):
    first = upload(client, people.alice_token, real_frame()).get_json()["checks"][0]["id"]
    second = upload(client, people.alice_token, sample("dfdc_notebook_samples", "mqzvfufzoq_fr0.jpg"))
    second = second.get_json()["checks"][0]["id"]
    listing = client.get("/api/v1/deepfake/checks", headers=bearer(people.alice_token)).get_json()
    assert [c["id"] for c in listing["checks"]] == [second, first] and listing["next_before"] is None
    page = client.get("/api/v1/deepfake/checks?limit=1", headers=bearer(people.alice_token)).get_json()
    assert [c["id"] for c in page["checks"]] == [second] and page["next_before"] == second
    rest = client.get(
        f"/api/v1/deepfake/checks?before={second}", headers=bearer(people.alice_token)
    ).get_json()
    assert [c["id"] for c in rest["checks"]] == [first]
    bad = client.get("/api/v1/deepfake/checks?limit=abc", headers=bearer(people.alice_token))
    assert bad.status_code == 400 and "limit" in bad.get_json()["error"]

    gone = client.delete(f"/api/v1/deepfake/checks/{first}", headers=bearer(people.alice_token))
    assert gone.status_code == 200 and gone.get_json() == {"deleted": first}
    assert (
        client.get(f"/api/v1/deepfake/checks/{first}", headers=bearer(people.alice_token)).status_code == 404
    )
    assert len(stored_files(app)) == 1  # the deleted check's upload went with it
    run_jobs(app)  # the deleted check's job finds nothing to do; the other one is scored
    db.expire_all()
    assert [c.id for c in db.scalars(select(DeepfakeCheck))] == [second]


@pytest.mark.parametrize(
    ("name", "data", "status", "message"),
    [
        ("empty.mp4", b"", 400, "empty (0 bytes)"),
        ("notes.mp4", b"Not a video at all, just words.\n" * 8, 415, "not an image or a video"),
        ("voice.wav", None, 415, "audio"),
    ],
)
def test_files_refused_by_their_bytes_answer_4xx_and_store_nothing(
    app, client, db, people, tmp_path, name, data, status, message
):
    if data is None:
        data = wav(tmp_path / name).read_bytes()
    answer = upload(client, people.alice_token, (name, data))
    assert answer.status_code == status and message in answer.get_json()["error"]
    assert stored_files(app) == [] and db.scalars(select(DeepfakeCheck)).all() == []
    assert db.scalars(select(Job)).all() == []


def test_a_good_and_a_bad_file_together_queue_only_the_good_one(app, client, people):
    answer = upload(client, people.alice_token, real_frame(), ("readme.mov", b"hello\n" * 50))
    body = answer.get_json()
    assert answer.status_code == 202 and len(body["checks"]) == 1
    assert (
        body["refused"][0]["filename"] == "readme.mov"
        and "not an image or a video" in body["refused"][0]["reason"]
    )


@pytest.mark.parametrize("case", ["truncated", "four_hours", "moov_missing"])
def test_media_only_decoding_can_judge_fails_its_job_with_a_sentence(app, client, db, people, tmp_path, case):
    clip = data_path("deepfake_dfdc_ffpp_samples", "dfdc_kaggle_sample", "videos", "abofeumbvv.mp4")
    if case == "truncated":
        whole = faststart(clip, tmp_path / "whole.mp4").read_bytes()
        data, expected = whole[: len(whole) // 2], "truncated or corrupt"
    elif case == "moov_missing":
        data, expected = clip.read_bytes()[:1_000_000], "could not be opened"
    else:
        data = counter_video(tmp_path / "long.mp4", frames=144, fps=0.01, size=(16, 16)).read_bytes()
        expected = "4:00:00, more than the 10:00 limit"
    answer = upload(client, people.alice_token, (f"{case}.mp4", data))
    assert answer.status_code == 202
    check_id = answer.get_json()["checks"][0]["id"]
    assert run_jobs(app) == 1
    check = client.get(f"/api/v1/deepfake/checks/{check_id}", headers=bearer(people.alice_token)).get_json()
    assert check["status"] == "failed" and expected in check["error"] and check["probability"] is None
    assert check["error"].startswith(f"{case}.mp4: ")  # the user's file name, not a server path
    job = client.get(f"/api/v1/jobs/{check['job_id']}", headers=bearer(people.alice_token)).get_json()
    assert job["status"] == "failed" and expected in job["error"]
    assert stored_files(app) == []


def test_request_limits(app, client, people):
    assert upload(client, people.alice_token).status_code == 400
    update_settings(app, DEEPFAKE_MAX_FILES_PER_UPLOAD=1)
    too_many = upload(client, people.alice_token, real_frame(), real_frame())
    assert too_many.status_code == 400 and "at most 1" in too_many.get_json()["error"]
    update_settings(app, DEEPFAKE_MAX_FILE_BYTES=100_000)
    big = upload(client, people.alice_token, real_frame())
    assert big.status_code == 413 and "limit for one file" in big.get_json()["error"]
    update_settings(app, DEEPFAKE_MAX_UPLOAD_BYTES=50_000)
    huge = upload(client, people.alice_token, real_frame())
    assert huge.status_code == 413 and "limit for one request" in huge.get_json()["error"]
    assert stored_files(app) == []


@pytest.mark.parametrize("name", ["..", ".hidden.jpg", "ph\u00f6to:1?.jpg"])
def test_odd_file_names_are_kept_for_display_and_scored_safely(app, client, people, name):
    answer = upload(client, people.alice_token, (name, real_frame()[1]))
    check_id = answer.get_json()["checks"][0]["id"]
    run_jobs(app)
    check = client.get(f"/api/v1/deepfake/checks/{check_id}", headers=bearer(people.alice_token)).get_json()
    assert check["filename"] == name and check["status"] == "done", check["error"]


def test_a_check_whose_worker_died_shows_queued_again_then_failed_never_stuck(app, client, db, people):
    """A worker that dies mid-job never reaches the handler's own bookkeeping: the job runner's
    recovery re-queues the job, then fails it on its last attempt, and the check follows the job."""
    from datetime import timedelta

    from server.db.types import utcnow
    from server.jobs import store

    check_id = upload(client, people.alice_token, real_frame()).get_json()["checks"][0]["id"]

    def die_while_running() -> dict:
        assert store.claim_next(db, "doomed-worker", ["deepfake.score"]) is not None
        db.get(DeepfakeCheck, check_id).status = CheckStatus.RUNNING  # the handler's first step
        for job in db.scalars(select(Job)):
            job.heartbeat_at = utcnow() - timedelta(hours=1)  # the heartbeat stopped an hour ago
        db.commit()
        store.recover_stale(db, timedelta(seconds=90))
        db.commit()
        url = f"/api/v1/deepfake/checks/{check_id}"
        return client.get(url, headers=bearer(people.alice_token)).get_json()

    assert die_while_running()["status"] == "queued"  # attempt 1 of 2: re-queued
    final = die_while_running()  # attempt 2 of 2: failed
    assert final["status"] == "failed" and "stopped responding" in final["error"]


def test_a_queued_check_cancelled_loses_its_job_and_upload_and_only_its_owner_may(app, client, db, people):
    submitted = upload(client, people.alice_token, real_frame()).get_json()["checks"][0]
    check_id, job_id = submitted["id"], submitted["job_id"]
    assert len(stored_files(app)) == 1
    url = f"/api/v1/deepfake/checks/{check_id}/cancel"
    hidden = client.post(url, headers=bearer(people.bob_token))
    assert hidden.status_code == 404 and hidden.get_json() == {"error": f"No deepfake check {check_id}."}
    assert client.post(url, headers=bearer(people.admin_token)).status_code == 404  # owner only

    answer = client.post(url, headers=bearer(people.alice_token))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "cancelled" and body["error"] is None and body["probability"] is None
    assert body["finished_at"] is not None
    assert stored_files(app) == []  # the job had not started: the upload goes at once
    job = client.get(f"/api/v1/jobs/{job_id}", headers=bearer(people.alice_token)).get_json()
    assert job["status"] == "cancelled"
    assert run_jobs(app) == 0
    shown = client.get(f"/api/v1/deepfake/checks/{check_id}", headers=bearer(people.alice_token)).get_json()
    assert shown["status"] == "cancelled"
    listed = client.get("/api/v1/deepfake/checks", headers=bearer(people.alice_token)).get_json()["checks"]
    assert [c["status"] for c in listed] == ["cancelled"]
    again = client.post(url, headers=bearer(people.alice_token))
    assert again.status_code == 409 and "already ended" in again.get_json()["error"]

    done = upload(client, people.alice_token, real_frame()).get_json()["checks"][0]["id"]
    assert run_jobs(app) == 1
    late = client.post(f"/api/v1/deepfake/checks/{done}/cancel", headers=bearer(people.alice_token))
    assert late.status_code == 409 and "only a queued or running check" in late.get_json()["error"]
    db.expire_all()
    assert db.get(DeepfakeCheck, done).status == CheckStatus.DONE


def test_a_check_cancelled_while_scoring_stops_at_its_next_progress_report(app, client, db, people):
    """The job is running when the cancel comes: the handler finds out from `ctx.progress`, marks the
    check cancelled (not failed), deletes the upload and lets the runner end the job."""
    from server.jobs import store
    from server.jobs.runner import execute

    submitted = upload(client, people.alice_token, real_frame()).get_json()["checks"][0]
    assert store.claim_next(db, "scoring-worker", ["deepfake.score"]) == submitted["job_id"]
    answer = client.post(
        f"/api/v1/deepfake/checks/{submitted['id']}/cancel", headers=bearer(people.alice_token)
    )
    assert answer.status_code == 200 and answer.get_json()["status"] == "cancelled"
    assert len(stored_files(app)) == 1  # still the running handler's to delete
    db.get(DeepfakeCheck, submitted["id"]).status = CheckStatus.RUNNING  # as if it began before the cancel
    db.commit()

    assert execute(app, submitted["job_id"], "scoring-worker") is False
    db.expire_all()
    check = db.get(DeepfakeCheck, submitted["id"])
    assert check.status == CheckStatus.CANCELLED and check.error is None and check.probability is None
    assert check.storage_key is None and stored_files(app) == []
    job = db.get(Job, submitted["job_id"])
    assert job.status == "cancelled" and job.error is None and job.result is None


def test_cancelling_the_job_through_the_jobs_api_cancels_its_check_too(app, client, people):
    submitted = upload(client, people.alice_token, real_frame()).get_json()["checks"][0]
    answer = client.post(f"/api/v1/jobs/{submitted['job_id']}/cancel", headers=bearer(people.alice_token))
    assert answer.status_code == 200 and answer.get_json()["status"] == "cancelled"
    check = client.get(f"/api/v1/deepfake/checks/{submitted['id']}", headers=bearer(people.alice_token))
    assert check.get_json()["status"] == "cancelled" and check.get_json()["finished_at"] is not None
    assert stored_files(app) == [] and run_jobs(app) == 0
