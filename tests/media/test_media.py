"""Media: uploads to a fake Cloudinary through the real SDK, the media routes, refusals, and `cms media upload`.

A pytest-httpserver plays Cloudinary: `CLOUDINARY_URL=cloudinary://key:secret@testcloud?upload_prefix=…`
points the real `cloudinary` SDK at it, nothing is patched. `FakeCloudinary` answers uploads (chunked
ones too) and destroys as Cloudinary does, remembers every request, and can be told to fail. Each test
gets its own copy of the test site in a git repository (writes commit to it), its own state database
with an ADMIN, a MODERATOR and a USER, and the app under Litestar's TestClient. Size limits are set
small (kilobytes) so chunking and refusals need only small files.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudinary.utils
import httpx
import pytest
import yaml
from argon2 import PasswordHasher
from click.testing import CliRunner
from litestar.testing import TestClient
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from api.app import create_app
from cms import media
from cms.accounts import NewUser, Role, StateDB, UserStore, users
from cms.cli import main
from cms.content.corpus import ContentTree
from cms.content.validate import validate_dir
from cms.errors import ConfigError, PreconditionFailed, TooLarge, UnsupportedType
from cms.index.build import update
from cms.index.sqlite import database_path
from cms.repo.commits import Identity
from cms.settings import Settings
from cms.write.operations import Workspace
from tests.conftest import SITE, git, make_repo

BASE = "/api/v1"
ORIGIN = "https://testserver.local"
SECRET = "a-test-secret-key-long-enough-for-hs256-0123456789"
PASSWORD = "password-for-tests-1"
PROBLEM = "application/problem+json"
CLOUD = "testcloud"
LIMITS = {"CMS_MEDIA_MAX_IMAGE_MB": "0.01", "CMS_MEDIA_MAX_VIDEO_MB": "0.1",
          "CMS_MEDIA_CHUNKED_OVER_MB": "0.02", "CMS_MEDIA_CHUNK_MB": "0.01"}
"""Images up to ~10 KiB, videos up to ~100 KiB, chunked over ~20 KiB in chunks of ~10 KiB."""
CHUNK = int(0.01 * 1024 * 1024)
PEOPLE = {Role.ADMIN: ("ada", "Ada Admin"), Role.MODERATOR: ("moe", None), Role.USER: ("uma", "Uma User")}
USED = {"testing-cover": ["content/courses/intro-to-testing/course.md", "content/projects/test-dashboard.md"],
        "grace-avatar": ["content/authors/grace-tester.md"],
        "demo-video": ["content/courses/intro-to-testing/01-basics/02-first-test.md"]}


# --- files ----------------------------------------------------------------------------------------------

def png(width: int = 2, height: int = 3) -> bytes:
    """A real PNG image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def mp4(size: int = 2048) -> bytes:
    """An MP4 file's `ftyp` box followed by `size` bytes in all."""
    ftyp = struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 0x200) + b"isomavc1"
    body = bytes(range(256)) * (size // 256 + 1)
    return (ftyp + struct.pack(">I", size - 24) + b"mdat" + body)[:size]


EXECUTABLE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 600
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>\n'


# --- the fake Cloudinary --------------------------------------------------------------------------------

@dataclass
class Call:
    """One request the SDK sent."""

    path: str
    form: dict[str, str]
    headers: dict[str, str]
    file: bytes | None = None
    filename: str | None = None


@dataclass
class FakeCloudinary:
    server: HTTPServer
    calls: list[Call] = field(default_factory=list)
    failure: Callable[[Request], Response] | None = None
    """When set, answers every request instead of the normal behaviour."""
    secure_host: str = f"res.cloudinary.com/{CLOUD}"
    duration: float | None = 12.345
    parts: dict[str, bytes] = field(default_factory=dict)

    def start(self) -> FakeCloudinary:
        self.server.expect_request(re.compile(rf"^/v1_1/{CLOUD}/\w+/(upload|destroy)$"),
                                   method="POST").respond_with_handler(self._answer)
        return self

    def url(self, **extra: str) -> str:
        query = "&".join(f"{key}={value}" for key, value in {"upload_prefix": self.prefix, **extra}.items())
        return f"cloudinary://key:secret@{CLOUD}?{query}"

    @property
    def prefix(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def _answer(self, request: Request) -> Response:
        upload = request.files.get("file")
        call = Call(path=request.path, form=dict(request.form), headers=dict(request.headers),
                    file=upload.read() if upload else None, filename=upload.filename if upload else None)
        self.calls.append(call)
        if self.failure is not None:
            return self.failure(request)
        if request.path.endswith("/destroy"):
            return _json({"result": "ok"})
        return self._uploaded(call, request.path.split("/")[3])

    def _uploaded(self, call: Call, kind: str) -> Response:
        data = call.file or b""
        content_range = call.headers.get("Content-Range")
        if content_range is not None:
            upload_id = call.headers["X-Unique-Upload-Id"]
            self.parts[upload_id] = self.parts.get(upload_id, b"") + data
            data = self.parts[upload_id]
            _, last, total = map(int, re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", content_range).groups())
            if last + 1 < total:
                return _json({"done": False, "public_id": call.form["public_id"]})
        public_id = call.form["public_id"]
        answer: dict[str, Any] = {
            "public_id": public_id, "version": 1700000000, "resource_type": kind, "type": "upload",
            "format": "png" if kind == "image" else "mp4", "bytes": len(data),
            "secure_url": f"https://{self.secure_host}/{kind}/upload/v1700000000/{public_id}."
                          f"{'png' if kind == 'image' else 'mp4'}"}
        if kind == "image":
            answer.update(width=2, height=3)
        else:
            answer.update(width=640, height=360, duration=self.duration)
        return _json(answer)

    def uploads(self) -> list[Call]:
        return [call for call in self.calls if call.path.endswith("/upload")]

    def destroys(self) -> list[Call]:
        return [call for call in self.calls if call.path.endswith("/destroy")]


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def signed(call: Call) -> bool:
    """Whether the request carries our key and a signature made with our secret."""
    params = {key: value for key, value in call.form.items() if key not in ("signature", "api_key")}
    return call.form.get("api_key") == "key" and call.form.get("signature") == cloudinary.utils.api_sign_request(
        params, "secret", "sha1", 2)


@pytest.fixture
def cloud(httpserver: HTTPServer) -> FakeCloudinary:
    return FakeCloudinary(httpserver).start()


# --- the site -------------------------------------------------------------------------------------------

@dataclass
class Site:
    repo: Path
    client: TestClient[Any]
    cloud: FakeCloudinary
    tokens: dict[Role, str] = field(default_factory=dict)

    @property
    def media_dir(self) -> Path:
        return self.repo / "content" / "media"

    def git(self, *args: str) -> str:
        return git(self.repo, *args)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def status(self) -> str:
        return self.git("status", "--porcelain", "--untracked-files=all")

    def blob(self, media_id: str) -> str:
        return self.git("hash-object", f"content/media/{media_id}.yml")

    def record(self, media_id: str) -> dict[str, Any]:
        return yaml.safe_load((self.media_dir / f"{media_id}.yml").read_text())

    def call(self, method: str, path: str, role: Role | None = Role.ADMIN, version: str | None = None,
             **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        return self.client.request(method, f"{BASE}{path}", headers=headers, **kwargs)

    def upload(self, data: bytes, name: str = "upload.bin", role: Role = Role.ADMIN,
               content_type: str = "application/octet-stream", **fields: str) -> httpx.Response:
        return self.call("POST", "/media", role, files={"file": (name, data, content_type)}, data=fields)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "site", SITE)
    tree = ContentTree.locate(repo / "content")
    update(tree, database_path(tree, None))
    return repo


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(users, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    path = tmp_path / "state" / "state.db"
    db = StateDB(path)
    try:
        for role, (username, full_name) in PEOPLE.items():
            UserStore(db).create(NewUser(username=username, email=f"{username}@example.com", password=PASSWORD,
                                         role=role, full_name=full_name))
    finally:
        db.close()
    return path


@contextmanager
def running(repo: Path, state: Path, cloud: FakeCloudinary, **env: str) -> Iterator[Site]:
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(repo / "content"), "CMS_SECRET_KEY": SECRET,
                                  "CMS_STATE_URL": f"sqlite:///{state}", **LIMITS, **env})
    with TestClient(create_app(settings), base_url=ORIGIN) as client:
        site = Site(repo=repo, client=client, cloud=cloud)
        for role, (username, _) in PEOPLE.items():
            response = client.post(f"{BASE}/auth/login", json={"username": username, "password": PASSWORD})
            site.tokens[role] = response.json()["access_token"]
        yield site


@pytest.fixture
def site(repo: Path, state: Path, cloud: FakeCloudinary) -> Iterator[Site]:
    with running(repo, state, cloud, CLOUDINARY_URL=cloud.url(timeout="1")) as site:
        yield site


def assert_nothing_written(site: Site, head: str, records: set[str]) -> None:
    assert site.head() == head
    assert site.status() == ""
    assert {path.name for path in site.media_dir.iterdir()} == records


def records(site: Site) -> set[str]:
    return {path.name for path in site.media_dir.iterdir()}


# --- uploads --------------------------------------------------------------------------------------------

def test_an_image_upload_sends_the_file_to_cloudinary_and_commits_what_came_back(site: Site) -> None:
    image = png()
    response = site.upload(image, name="../../etc/passwd.mp4", content_type="video/mp4", alt="  A red square ")
    assert response.status_code == 201, response.text
    body = response.json()
    media_id = body["entry"]["id"]
    assert re.fullmatch(r"img-[0-9a-f]{12}", media_id)
    assert response.headers["etag"] == f'"{body["version"]}"' and body["version"] == site.blob(media_id)
    assert body["commit"] == site.head() and site.status() == ""

    [call] = site.cloud.calls
    assert call.path == f"/v1_1/{CLOUD}/image/upload"
    assert call.file == image and call.filename == f"{media_id}.png"
    assert call.form["public_id"] == media_id and call.form["overwrite"] == "0"
    assert signed(call)

    record = site.record(media_id)
    assert record["public_id"] == media_id and record["resource_type"] == "image"
    assert record["secure_url"] == f"https://res.cloudinary.com/{CLOUD}/image/upload/v1700000000/{media_id}.png"
    assert (record["format"], record["width"], record["height"], record["bytes"]) == ("png", 2, 3, len(image))
    assert record["alt"] == "A red square" and record["uploaded_by"] == "ada" and "duration_ms" not in record
    assert record["uploaded_at"].tzinfo is not None
    assert site.git("log", "-1", "--format=%an|%ae|%s") == f"Ada Admin|ada@example.com|Upload image {media_id}"
    assert not validate_dir(site.repo / "content").errors

    public = site.client.get(f"{BASE}/media/{media_id}")
    assert public.status_code == 200, public.text
    assert public.json()["alt"] == "A red square" and public.json()["version"] == body["version"]
    assert body["entry"]["uploaded_by"] == "ada" and body["entry"]["deleted"] is False


def test_a_video_upload_records_its_duration_in_milliseconds_and_needs_no_alt(site: Site) -> None:
    video = mp4()
    response = site.upload(video, name="clip.png", content_type="image/png", role=Role.MODERATOR)
    assert response.status_code == 201, response.text
    media_id = response.json()["entry"]["id"]
    assert media_id.startswith("vid-")
    [call] = site.cloud.calls
    assert call.path == f"/v1_1/{CLOUD}/video/upload" and call.file == video and "Content-Range" not in call.headers
    record = site.record(media_id)
    assert (record["resource_type"], record["duration_ms"], record["format"]) == ("video", 12345, "mp4")
    assert "alt" not in record and record["uploaded_by"] == "moe"
    assert site.git("log", "-1", "--format=%an|%ae") == "moe|moe@example.com"


def test_a_large_video_goes_to_cloudinary_in_chunks(site: Site) -> None:
    video = mp4(35 * 1024)
    response = site.upload(video, id="big-talk")
    assert response.status_code == 201, response.text
    calls = site.cloud.uploads()
    assert len(calls) == 4
    ranges = [call.headers["Content-Range"] for call in calls]
    assert ranges == [f"bytes {start}-{min(start + CHUNK, len(video)) - 1}/{len(video)}"
                      for start in range(0, len(video), CHUNK)]
    assert len({call.headers["X-Unique-Upload-Id"] for call in calls}) == 1
    assert b"".join(call.file or b"" for call in calls) == video
    assert all(call.path == f"/v1_1/{CLOUD}/video/upload" and signed(call) for call in calls)
    assert site.record("big-talk")["bytes"] == len(video)


def test_a_chosen_id_is_used_and_a_taken_or_bad_one_is_refused(site: Site) -> None:
    assert site.upload(png(), alt="Logo", id="new-logo").json()["entry"]["id"] == "new-logo"
    head, before = site.head(), records(site)
    problem(site.upload(png(), alt="Logo", id="new-logo"), 409)
    problem(site.upload(png(), alt="Logo", id="grace-avatar"), 409)
    for bad in ("../escape", "Upper", "a/b", "x" * 81):
        problem(site.upload(png(), alt="Logo", id=bad), 422)
    assert len(site.cloud.calls) == 1
    assert_nothing_written(site, head, before)


# --- refusals before anything is uploaded ---------------------------------------------------------------

@pytest.mark.parametrize(("data", "name", "status", "words"), [
    (EXECUTABLE, "photo.png", 415, "Windows executable"),
    (SVG, "logo.svg", 415, "SVG"),
    (b"", "empty.png", 415, "empty"),
    (b"<html><body>hi</body></html>", "page.png", 415, "HTML"),
    (png(), "photo.png", 422, "alt text"),
    (png() + b"\x00" * (11 * 1024), "huge.png", 413, "CMS_MEDIA_MAX_IMAGE_MB"),
    (mp4(103 * 1024), "huge.mp4", 413, "CMS_MEDIA_MAX_VIDEO_MB"),
], ids=["executable", "svg", "empty", "html", "no-alt", "huge-image", "huge-video"])
def test_uploads_are_refused_from_their_bytes_before_cloudinary_is_called(site: Site, data: bytes, name: str,
                                                                         status: int, words: str) -> None:
    head, before = site.head(), records(site)
    body = problem(site.upload(data, name=name, content_type="image/png"), status)
    assert words in body["detail"] or words in json.dumps(body.get("errors"))
    assert site.cloud.calls == []
    assert_nothing_written(site, head, before)


def test_an_upload_needs_a_staff_token(site: Site) -> None:
    problem(site.call("POST", "/media", None, files={"file": ("a.png", png())}, data={"alt": "x"}), 401)
    problem(site.upload(png(), role=Role.USER, alt="x"), 403)
    assert site.cloud.calls == []


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"json": {"alt": "x"}}, 415),
    ({"files": {"picture": ("a.png", png())}, "data": {"alt": "x"}}, 422),
    ({"files": {"file": ("a.png", png())}, "data": {"alt": "x", "public_id": "mine"}}, 422),
    ({"data": {"alt": "x"}, "files": {"other": ("b.txt", b"hi")}}, 422),
    ({"content": b"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\x89PNG",
      "headers": {"Content-Type": "multipart/form-data; boundary=xyz"}}, 400),
])
def test_a_malformed_upload_request_is_refused(site: Site, kwargs: dict[str, Any], status: int) -> None:
    problem(site.call("POST", "/media", **kwargs), status)
    assert site.cloud.calls == []


# --- Cloudinary failing ---------------------------------------------------------------------------------

def _failing(status: int, body: bytes, content_type: str = "application/json") -> Callable[[Request], Response]:
    return lambda request: Response(body, status=status, content_type=content_type)


def _slow(request: Request) -> Response:
    time.sleep(1.5)
    return _json({"result": "ok"})


@pytest.mark.parametrize(("failure", "words"), [
    (_failing(400, b'{"error": {"message": "Invalid image file"}}'), "refused the upload: Invalid image file"),
    (_failing(401, b'{"error": {"message": "Invalid Signature"}}'), "refused the upload: Invalid Signature"),
    (_failing(500, b'{"error": {"message": "General Error"}}'), "refused the upload: General Error"),
    (_failing(502, b"<html>Bad gateway</html>", "text/html"), "refused the upload"),
    (_failing(200, b"not json", "text/plain"), "refused the upload"),
    (_failing(200, b"[1, 2]"), "not a JSON object"),
    (_slow, "did not answer the upload in time"),
], ids=["400", "401", "500", "502-html", "not-json", "not-an-object", "timeout"])
def test_cloudinary_failures_are_a_502_and_nothing_is_committed(site: Site, failure: Callable[[Request], Response],
                                                                words: str) -> None:
    head, before = site.head(), records(site)
    site.cloud.failure = failure
    body = problem(site.upload(png(), alt="A red square"), 502)
    assert words in body["detail"] and "Cloudinary" in body["detail"]
    assert_nothing_written(site, head, before)


def test_an_unreachable_cloudinary_is_a_502(repo: Path, state: Path, cloud: FakeCloudinary) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"cloudinary://key:secret@{CLOUD}?upload_prefix=http://127.0.0.1:{port}&timeout=1"
    with running(repo, state, cloud, CLOUDINARY_URL=url) as site:
        head, before = site.head(), records(site)
        body = problem(site.upload(png(), alt="A red square"), 502)
        assert "could not be reached" in body["detail"]
        assert_nothing_written(site, head, before)


@pytest.mark.parametrize("host", ["res.cloudinary.com/othercloud", "evil.example.com/testcloud",
                                  "res.cloudinary.com.evil.example/testcloud"])
def test_a_secure_url_outside_our_cloud_is_refused_and_the_asset_removed(site: Site, host: str) -> None:
    head, before = site.head(), records(site)
    site.cloud.secure_host = host
    body = problem(site.upload(png(), alt="A red square", id="suspicious"), 502)
    assert "secure_url" in body["detail"]
    assert_nothing_written(site, head, before)
    [destroy] = site.cloud.destroys()
    assert destroy.form["public_id"] == "suspicious" and destroy.path.endswith("/image/destroy")


def test_without_cloudinary_url_upload_and_delete_answer_503_and_the_rest_works(repo: Path, state: Path,
                                                                                cloud: FakeCloudinary) -> None:
    with running(repo, state, cloud) as site:
        body = problem(site.upload(png(), alt="x"), 503)
        assert "CLOUDINARY_URL" in body["detail"]
        problem(site.call("DELETE", "/media/old-logo", version=site.blob("old-logo")), 503)
        assert site.call("GET", "/media").json()["total"] == 4
        assert site.call("POST", "/media/old-logo/restore").status_code == 200
        problem(site.call("POST", "/media", None, files={"file": ("a.png", png())}), 401)


# --- listing --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "ids"), [
    ("", ["demo-video", "grace-avatar", "old-logo", "testing-cover"]),
    ("?resource_type=video", ["demo-video"]),
    ("?resource_type=image&deleted=false", ["grace-avatar", "testing-cover"]),
    ("?deleted=true", ["old-logo"]),
    ("?q=logo", ["old-logo"]),
    ("?q=GREEN%20checkmark", ["testing-cover"]),
    ("?q=test/grace", ["grace-avatar"]),
    ("?q=%25", []),
    ("?q=_", []),
])
def test_the_list_filters(site: Site, query: str, ids: list[str]) -> None:
    response = site.call("GET", f"/media{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(item["id"] for item in body["items"]) == ids and body["total"] == len(ids)
    assert response.headers["cache-control"] == "private, no-store"


def test_the_list_pages_with_a_total_and_links(site: Site) -> None:
    first = site.call("GET", "/media?page_size=3").json()
    second = site.call("GET", "/media?page_size=3&page=2")
    assert (first["total"], len(first["items"]), second.json()["total"], len(second.json()["items"])) == (4, 3, 4, 1)
    assert {item["id"] for item in first["items"] + second.json()["items"]} == set(USED) | {"old-logo"}
    assert 'rel="prev"' in second.headers["link"]
    old = next(item for item in first["items"] + second.json()["items"] if item["id"] == "old-logo")
    assert old["deleted"] is True


def test_the_list_is_for_staff_only_and_checks_its_parameters(site: Site) -> None:
    assert site.call("GET", "/media", Role.MODERATOR).status_code == 200
    problem(site.call("GET", "/media", None), 401)
    problem(site.call("GET", "/media", Role.USER), 403)
    problem(site.call("GET", "/media?resource_type=audio"), 400)
    problem(site.call("GET", "/media?colour=red"), 400)
    assert site.client.get(f"{BASE}/media/testing-cover").status_code == 200
    problem(site.client.get(f"{BASE}/media/old-logo"), 404)


# --- editing --------------------------------------------------------------------------------------------

def test_patch_changes_the_alt_text_with_if_match(site: Site) -> None:
    old = site.blob("testing-cover")
    problem(site.call("PATCH", "/media/testing-cover", json={"alt": "New words"}), 428)
    problem(site.call("PATCH", "/media/testing-cover", version="0" * 40, json={"alt": "New words"}), 412)
    problem(site.call("PATCH", "/media/testing-cover", version=old, json={"secure_url": "https://x.example/a"}), 422)
    problem(site.call("PATCH", "/media/testing-cover", version=old, json={"alt": ""}), 422)
    problem(site.call("PATCH", "/media/no-such", version=old, json={"alt": "x"}), 404)
    problem(site.call("PATCH", "/media/testing-cover", Role.USER, version=old, json={"alt": "x"}), 403)
    assert site.blob("testing-cover") == old and site.status() == ""

    response = site.call("PATCH", "/media/testing-cover", Role.MODERATOR, version=old, json={"alt": "New words"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["entry"]["alt"] == "New words" and body["version"] == site.blob("testing-cover") != old
    assert response.headers["etag"] == f'"{body["version"]}"'
    assert site.git("log", "-1", "--format=%an|%s") == "moe|Update media testing-cover"
    assert site.record("testing-cover")["alt"] == "New words"
    assert site.client.get(f"{BASE}/media/testing-cover").json()["alt"] == "New words"
    problem(site.call("PATCH", "/media/testing-cover", version=old, json={"alt": "Again"}), 412)


def test_soft_delete_hides_a_record_and_restore_brings_it_back(site: Site) -> None:
    response = site.call("POST", "/media/old-logo/restore", Role.MODERATOR)
    assert response.status_code == 200, response.text
    assert response.json()["entry"]["deleted"] is False and "deleted" not in site.record("old-logo")
    assert site.client.get(f"{BASE}/media/old-logo").status_code == 200
    problem(site.call("POST", "/media/old-logo/restore"), 409)

    problem(site.call("POST", "/media/old-logo/soft-delete", version="0" * 40), 412)
    response = site.call("POST", "/media/old-logo/soft-delete", version=site.blob("old-logo"))
    assert response.status_code == 200, response.text
    assert response.json()["entry"]["deleted"] is True and site.record("old-logo")["deleted"] is True
    assert site.git("log", "-1", "--format=%an|%s") == "Ada Admin|Soft-delete media old-logo"
    problem(site.client.get(f"{BASE}/media/old-logo"), 404)
    problem(site.call("POST", "/media/old-logo/soft-delete"), 409)
    problem(site.call("POST", "/media/old-logo/soft-delete", Role.USER), 403)
    problem(site.call("POST", "/media/nothing-here/restore"), 404)


def test_delete_destroys_the_asset_at_cloudinary_then_removes_the_record(site: Site) -> None:
    media_id = site.upload(mp4(), id="short-clip").json()["entry"]["id"]
    version = site.blob(media_id)
    problem(site.call("DELETE", f"/media/{media_id}"), 428)
    problem(site.call("DELETE", f"/media/{media_id}", version="0" * 40), 412)
    problem(site.call("DELETE", f"/media/{media_id}", Role.USER, version=version), 403)
    assert site.cloud.destroys() == []

    response = site.call("DELETE", f"/media/{media_id}", Role.MODERATOR, version=version)
    assert response.status_code == 200, response.text
    assert response.json() == {"entry": None, "version": None, "commit": site.head()}
    [destroy] = site.cloud.destroys()
    assert destroy.path == f"/v1_1/{CLOUD}/video/destroy" and destroy.form["public_id"] == media_id
    assert signed(destroy)
    assert not (site.media_dir / f"{media_id}.yml").exists() and site.status() == ""
    assert site.git("log", "-1", "--format=%an|%s") == f"moe|Delete media {media_id}"
    problem(site.client.get(f"{BASE}/media/{media_id}", headers={"Authorization": f"Bearer {site.tokens[Role.ADMIN]}"}),
            404)
    problem(site.call("DELETE", f"/media/{media_id}", version=version), 404)


def test_a_delete_cloudinary_refuses_keeps_the_record(site: Site) -> None:
    head, version = site.head(), site.blob("old-logo")
    site.cloud.failure = _failing(500, b'{"error": {"message": "General Error"}}')
    problem(site.call("DELETE", "/media/old-logo", version=version), 502)
    site.cloud.failure = lambda request: _json({"result": "error"})
    problem(site.call("DELETE", "/media/old-logo", version=version), 502)
    assert site.head() == head and site.blob("old-logo") == version and site.status() == ""


def test_concurrent_edits_of_one_record_lose_nothing(repo: Path) -> None:
    tree = ContentTree.locate(repo / "content")
    space = Workspace(tree=tree, db_path=database_path(tree, None))
    ada = Identity(name="Ada Admin", email="ada@example.com")
    for round_ in range(4):
        version = git(repo, "hash-object", "content/media/old-logo.yml")
        alt = f"Alt text {round_}"
        flag = media.restore if round_ % 2 == 0 else media.soft_delete
        flag_args = (space, "old-logo", None, ada) if round_ % 2 == 0 else (space, "old-logo", None, ada, False)
        with ThreadPoolExecutor(max_workers=2) as pool:
            patched = pool.submit(media.update, space, "old-logo", {"alt": alt}, version, ada)
            flagged = pool.submit(flag, *flag_args)
            flagged.result()
            try:
                patched.result()
            except PreconditionFailed:
                alt = None  # the flag change came first: the stale PATCH wrote nothing
        record = yaml.safe_load((repo / "content/media/old-logo.yml").read_text())
        assert record.get("deleted", False) is (round_ % 2 == 1)
        if alt is not None:
            assert record["alt"] == alt
        assert git(repo, "status", "--porcelain") == ""


# --- assets content still uses --------------------------------------------------------------------------

@pytest.mark.parametrize("media_id", sorted(USED))
def test_deleting_an_asset_in_use_is_refused_with_the_files_that_use_it(site: Site, media_id: str) -> None:
    head = site.head()
    for response in (site.call("POST", f"/media/{media_id}/soft-delete"),
                     site.call("DELETE", f"/media/{media_id}", version=site.blob(media_id)),
                     site.call("DELETE", f"/media/{media_id}", Role.MODERATOR, version=site.blob(media_id))):
        body = problem(response, 409)
        assert body["type"].endswith(":in-use")
        assert sorted({error["file"] for error in body["errors"]}) == USED[media_id]
        assert all(media_id in error["message"] for error in body["errors"])
    assert site.cloud.calls == [] and site.head() == head and site.status() == ""


def test_a_file_left_out_of_the_index_still_counts_as_using_the_asset(site: Site) -> None:
    course = site.repo / "content/courses/advanced-testing/course.md"
    course.write_text(course.read_text().replace("title:", "image: old-logo\ntitle:", 1))
    site.git("commit", "--quiet", "--all", "--message", "Use the old logo (a deleted asset: an error)")
    body = problem(site.call("DELETE", "/media/old-logo", version=site.blob("old-logo")), 409)
    assert [error["file"] for error in body["errors"]] == ["content/courses/advanced-testing/course.md"]


def test_force_is_for_admins_and_removes_the_references_in_the_same_commit(site: Site) -> None:
    version = site.blob("testing-cover")
    problem(site.call("DELETE", "/media/testing-cover?force=true", Role.MODERATOR, version=version), 403)
    problem(site.call("POST", "/media/grace-avatar/soft-delete?force=true", Role.MODERATOR), 403)
    assert site.cloud.calls == []

    response = site.call("DELETE", "/media/testing-cover?force=true", version=version)
    assert response.status_code == 200, response.text
    assert [call.form["public_id"] for call in site.cloud.destroys()] == ["test/testing-cover"]
    changed = site.git("show", "--name-only", "--format=%an|%s", "HEAD").split("\n")
    assert changed[0] == "Ada Admin|Delete media testing-cover and remove it from 2 files"
    assert sorted(line for line in changed[1:] if line) == sorted(
        [*USED["testing-cover"], "content/media/testing-cover.yml"])
    assert "image:" not in (site.repo / "content/courses/intro-to-testing/course.md").read_text()
    assert "thumbnail:" not in (site.repo / "content/projects/test-dashboard.md").read_text()

    response = site.call("POST", "/media/demo-video/soft-delete?force=true")
    assert response.status_code == 200, response.text
    lesson = (site.repo / USED["demo-video"][0]).read_text()
    assert "media: demo-video" not in lesson and "url:" in lesson
    assert not validate_dir(site.repo / "content").errors and site.status() == ""


# --- the command line -----------------------------------------------------------------------------------

def test_cms_media_upload_commits_as_the_git_user(repo: Path, cloud: FakeCloudinary,
                                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    git(repo, "config", "user.name", "Carla CLI")
    git(repo, "config", "user.email", "carla@example.com")
    image = tmp_path / "holiday.mp4"
    image.write_bytes(png())
    monkeypatch.setenv("CLOUDINARY_URL", cloud.url())
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["media", "upload", str(image), "--alt", "Beach", "--id", "beach",
                                       "--content-dir", str(repo / "content")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "beach" in result.output and "content/media/beach.yml" in result.output
    assert git(repo, "log", "-1", "--format=%an|%ae|%s") == "Carla CLI|carla@example.com|Upload image beach"
    record = yaml.safe_load((repo / "content/media/beach.yml").read_text())
    assert (record["alt"], record["uploaded_by"], record["bytes"]) == ("Beach", "Carla CLI", len(png()))
    assert cloud.uploads()[0].file == png()


@pytest.mark.parametrize(("setup", "words"), [
    ("unset", "set CLOUDINARY_URL=cloudinary://"),
    ("failing", "Cloudinary refused the upload"),
    ("no-alt", "alt text"),
    ("executable", "Windows executable"),
])
def test_cms_media_upload_says_what_went_wrong_and_exits_non_zero(repo: Path, cloud: FakeCloudinary,
                                                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                  setup: str, words: str) -> None:
    git(repo, "config", "user.name", "Carla CLI")
    git(repo, "config", "user.email", "carla@example.com")
    head = git(repo, "rev-parse", "HEAD")
    file = tmp_path / "file.png"
    file.write_bytes(EXECUTABLE if setup == "executable" else png())
    if setup != "unset":
        monkeypatch.setenv("CLOUDINARY_URL", cloud.url())
    cloud.failure = _failing(400, b'{"error": {"message": "Invalid image file"}}')
    alt = [] if setup == "no-alt" else ["--alt", "A file"]
    result = CliRunner().invoke(main, ["media", "upload", str(file), *alt, "--content-dir", str(repo / "content")],
                                catch_exceptions=False)
    assert result.exit_code != 0
    assert words in result.output
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "status", "--porcelain") == ""


# --- the pieces -----------------------------------------------------------------------------------------

FTYP = struct.pack(">I", 24) + b"ftyp"


@pytest.mark.parametrize(("head", "kind", "format"), [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image", "jpg"),
    (png(), "image", "png"),
    (b"GIF89a\x01\x00", "image", "gif"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image", "webp"),
    (FTYP + b"avif\x00\x00\x00\x00avifmif1", "image", "avif"),
    (FTYP + b"mif1\x00\x00\x00\x00mif1avif", "image", "avif"),
    (mp4(), "video", "mp4"),
    (FTYP + b"mp42\x00\x00\x00\x00mp42isom", "video", "mp4"),
    (FTYP + b"qt  \x00\x00\x02\x00qt  \x00\x00", "video", "mov"),
    (b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat", "video", "mov"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video", "webm"),
])
def test_types_come_from_the_bytes(head: bytes, kind: str, format: str) -> None:
    assert media.sniff(head) == media.Sniffed(kind, format)  # type: ignore[arg-type]


@pytest.mark.parametrize("head", [SVG, b"\xef\xbb\xbf  <svg>", EXECUTABLE, b"\x7fELF\x02\x01", b"%PDF-1.7",
                                  b"PK\x03\x04", b"#!/bin/sh\nrm -rf /", b"", b"just text",
                                  FTYP + b"heic\x00\x00\x00\x00mif1heic",
                                  b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska"])
def test_anything_else_is_refused(head: bytes) -> None:
    with pytest.raises(UnsupportedType):
        media.sniff(head)


def test_the_spool_stops_an_oversized_image_while_it_arrives(tmp_path: Path) -> None:
    limits = media.Limits(max_image=1000, max_video=5000, chunked_over=3000, chunk_size=1000)
    with media.Spool(limits, tmp_path) as spool, pytest.raises(TooLarge):
        spool.write(png())
        for _ in range(10):
            spool.write(b"\x00" * 200)
    assert list(tmp_path.iterdir()) == []
    with media.Spool(limits, tmp_path) as spool, pytest.raises(UnsupportedType):
        spool.write(EXECUTABLE)


def test_our_cloud_owns_only_its_own_urls() -> None:
    cloud = media.Cloudinary("cloudinary://key:secret@testcloud/cdn.example.com")
    assert cloud.owns("https://res.cloudinary.com/testcloud/image/upload/v1/a.png")
    assert cloud.owns("https://testcloud-res.cloudinary.com/image/upload/v1/a.png")
    assert cloud.owns("https://cdn.example.com/image/upload/v1/a.png")
    for url in ("http://res.cloudinary.com/testcloud/a.png", "https://res.cloudinary.com/other/a.png",
                "https://res.cloudinary.com/testcloudx/a.png", "https://user@res.cloudinary.com/testcloud/a.png",
                "https://res.cloudinary.com:8443/testcloud/a.png", "https://evil.example/testcloud/a.png"):
        assert not cloud.owns(url), url


def test_a_malformed_cloudinary_url_stops_start_up_without_showing_the_secret() -> None:
    for url in ("https://key:secret@cloud", "cloudinary://key@cloud", "cloudinary://key:s3cr3t@",
                "cloudinary://key:s3cr3t@cloud?timeout=soon", "cloudinary://key:s3cr3t@cloud?timeout=0"):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({"CLOUDINARY_URL": url})
        assert "CLOUDINARY_URL" in caught.value.message and "s3cr3t" not in caught.value.message
    problem_free = Settings.from_env({"CLOUDINARY_URL": "cloudinary://k:s@c?upload_prefix=http://127.0.0.1:1"})
    assert problem_free.cloudinary_url is not None


def test_the_media_settings_are_documented() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for name in ("CLOUDINARY_URL", *LIMITS):
        assert f"`{name}`" in readme, name
