"""Shared fixtures: the team data folder beside the repository and the exported models."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
MYSQL_URL = os.environ.get("VISAGE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/")
BROKER = ("127.0.0.1", 1883)  # the system Mosquitto (scripts/services.sh), anonymous allowed


def unavailable(message: str) -> NoReturn:
    """Skip when a real component (data, browser, service) is missing; fail under CI=true, where
    every one of them must be there."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def data_path(*parts: str) -> Path:
    """A path under ../shared/data; skip (or fail under CI) when the folder is absent."""
    if not DATA.is_dir():
        unavailable(f"team data folder {DATA} is absent (it sits beside the repository)")
    path = DATA.joinpath(*parts)
    assert path.exists(), f"{path} is missing from the team data folder"
    return path


def require_broker() -> None:
    """Skip (fail under CI) unless the system Mosquitto listens on BROKER."""
    try:
        socket.create_connection(BROKER, timeout=2).close()
    except OSError as exc:
        host, port = BROKER
        unavailable(f"Mosquitto at {host}:{port} is unreachable ({exc}); run `bash scripts/services.sh`")


def mysql_admin_connection():
    """A PyMySQL connection to the MariaDB server (no database selected), or skip/fail."""
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(MYSQL_URL)
    try:
        return pymysql.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
            connect_timeout=3,
            autocommit=True,
        )
    except pymysql.err.OperationalError as exc:
        unavailable(
            f"MariaDB at {url.host}:{url.port or 3306} is unreachable ({exc.args[-1]}); start it with "
            "`bash scripts/services.sh` or set VISAGE_TEST_MYSQL_URL"
        )


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A fresh, empty MariaDB database for one test (utf8mb4, as deployed), dropped afterwards."""
    from sqlalchemy.engine import make_url

    admin = mysql_admin_connection()
    name = f"visage_test_{secrets.token_hex(6)}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        yield make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """Commands run in-process (`main([...])`) configure the root logger as a real process would;
    put it back afterwards so one test's log level and handlers never leak into the next."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def registry():
    """The project's models/, exported on first use (what `scripts/setup.sh` also does)."""
    from shared.model_registry import ModelRegistry

    reg = ModelRegistry()
    needed = ("mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet", "dlib_resnet", "sface", "yunet")
    if not all(reg.has(name) for name in needed):
        from shared.export.build import build_models
        from shared.samples import demo_photos

        build_models(reg.models_dir, demo_photos())
    return reg


@pytest.fixture(scope="session")
def analyzer(registry):
    from shared.analysis import FaceAnalyzer

    return FaceAnalyzer(registry).prepare()


@pytest.fixture(scope="session")
def shared_demo(tmp_path_factory, registry):
    """One running `visage demo` (tests/demo_support.py) for the tests that read it over HTTP and MQTT.

    Stopped with the Ctrl-C checks by tests/test_demo_restart.py, which then starts it again on the same
    instance folder, or here at the end when that test did not run."""
    from tests.demo_support import DemoRun

    faces = data_path("lfw_deepfunneled_pairs", "images")
    run = DemoRun.start(tmp_path_factory.mktemp("demo") / "instance", faces)
    try:
        yield run
        if run.running:
            run.stop()
    finally:
        run.kill()


DEMO_ORDER = ("test_demo_system.py", "test_readme_examples.py", "test_demo_restart.py")


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by parametrised fixtures
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests on the shared demo run last and one after another, so its CPU load stays out of the
    other tests and the process lives only as long as they need it; the restart test, which stops
    it, comes last."""

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return DEMO_ORDER.index(name) if name in DEMO_ORDER else len(DEMO_ORDER)

    demo = [item for item in items if "shared_demo" in getattr(item, "fixturenames", ())]
    if demo:
        chosen = set(demo)
        items[:] = [item for item in items if item not in chosen] + sorted(demo, key=rank)


def centred_face(faces: list, image):
    """Of the analysed faces of `image`, the one whose box centre is nearest the image centre (city-block
    distance): LFW crops are centred on their subject; other people may stand at the edges."""
    h, w = image.shape[:2]
    return min(
        faces,
        key=lambda f: (
            abs(float(f.face.box[0] + f.face.box[2]) / 2 - w / 2)
            + abs(float(f.face.box[1] + f.face.box[3]) / 2 - h / 2)
        ),
    )


@pytest.fixture(scope="session")
def lfw10_faces(analyzer):
    """(identities, embeddings (100,128)) of the main face of each lfw_subset_10x10 photo (album tests)."""
    import numpy as np

    from shared.media import read_image

    names: list[str] = []
    vectors: list[np.ndarray] = []
    for path in sorted(data_path("lfw_subset_10x10").glob("*/*.jpg")):
        image = read_image(path)
        faces = analyzer.get(image)
        assert faces, f"no face found in {path.name}"
        main = centred_face(faces, image)
        names.append(path.parent.name)
        vectors.append(np.asarray(main.embedding, dtype=np.float32))
    return names, np.stack(vectors)


def wait_until(check: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll `check` every 50 ms until it is true or `timeout` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())
