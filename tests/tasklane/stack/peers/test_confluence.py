"""The fake Confluence refuses what the real Server/DC and Cloud refuse, with their answers.

Each test sends what the real server rejects and expects what it answers (sources in
tests/fakes/README.md (confluence)); requests the API description itself forbids are wrapped in
`expected_violations`, so the contract check confirms that they are forbidden.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext

import pytest
import requests

from tasklane.stack.peers._server import serve
from tasklane.stack.peers.confluence import FakeConfluence
from tests.contracts.checker import expected_violations

PAGE = "4711"
BASIC = ("bot", "bot-password")
PAT = {"Authorization": "Bearer pat-good"}
XSRF = {"X-Atlassian-Token": "no-check"}


@pytest.fixture
def fake() -> FakeConfluence:
    fake = FakeConfluence()
    fake.add_page(PAGE, "Results", "<p>results</p>", version=3)
    fake.add_page("4712", "Other page", "<p>other</p>")
    return fake


@pytest.fixture
def url(fake: FakeConfluence) -> Iterator[str]:
    with serve(fake.app) as base:
        yield base


def server_put(url: str, body: dict, **kwargs) -> requests.Response:
    return requests.put(f"{url}/rest/api/content/{PAGE}", json=body, auth=BASIC, timeout=5, **kwargs)


def server_update(version: int, title: str = "Results", value: str = "<p>new</p>") -> dict:
    return {
        "id": PAGE,
        "type": "page",
        "title": title,
        "version": {"number": version},
        "body": {"storage": {"value": value, "representation": "storage"}},
    }


def cloud_update(version: int, title: str = "Results", value: str = "<p>new</p>") -> dict:
    return {
        "id": PAGE,
        "status": "current",
        "title": title,
        "version": {"number": version},
        "body": {"representation": "storage", "value": value},
    }


def cloud_put(url: str, body: dict, **kwargs) -> requests.Response:
    return requests.put(f"{url}/wiki/api/v2/pages/{PAGE}", json=body, auth=BASIC, timeout=5, **kwargs)


# --- authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "auth", "headers", "status"),
    [
        ("/rest/api/content/{page}", BASIC, {}, 200),
        ("/rest/api/content/{page}", None, PAT, 200),
        ("/rest/api/content/{page}", ("bot", "wrong"), {}, 401),
        ("/rest/api/content/{page}", None, {}, 401),
        ("/wiki/api/v2/pages/{page}", BASIC, {}, 200),
        ("/wiki/api/v2/pages/{page}", None, PAT, 401),  # Cloud: e-mail + API token as basic auth only
    ],
    ids=["server-basic", "server-pat", "server-wrong-password", "server-none", "cloud-basic", "cloud-pat"],
)
def test_auth_schemes_per_edition(url: str, path: str, auth, headers: dict, status: int) -> None:
    # Server/DC's description requires basic auth or a personal access token on every operation.
    unsigned = auth is None and not headers
    with expected_violations(r"request breaks.*Security not found") if unsigned else nullcontext():
        answer = requests.get(url + path.format(page=PAGE), auth=auth, headers=headers, timeout=5)
    assert answer.status_code == status
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Basic")


# --- error bodies ----------------------------------------------------------------------------------


def test_not_found_bodies_per_api(url: str) -> None:
    server = requests.get(f"{url}/rest/api/content/999", auth=BASIC, timeout=5)
    assert server.status_code == 404
    assert server.json()["statusCode"] == 404
    assert server.json()["message"] == "No content found with id: ContentId{id=999}"
    cloud = requests.get(f"{url}/wiki/api/v2/pages/999", auth=BASIC, timeout=5)
    assert cloud.status_code == 404
    assert cloud.json() == {
        "errors": [{"status": 404, "code": "NOT_FOUND", "title": "Not Found", "detail": None}]
    }


def test_a_user_who_may_not_edit(url: str, fake: FakeConfluence) -> None:
    fake.deny_edit("bot")
    assert requests.get(f"{url}/rest/api/content/{PAGE}", auth=BASIC, timeout=5).status_code == 200
    refused = server_put(url, server_update(4))
    assert refused.status_code == 403 and refused.json()["data"]["authorized"] is False
    assert cloud_put(url, cloud_update(4)).status_code == 404  # v2 does not say "forbidden"
    assert fake.version(PAGE) == 3


# --- page updates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [3, 5], ids=["same", "skipped"])
def test_version_must_be_current_plus_one(url: str, fake: FakeConfluence, version: int) -> None:
    server = server_put(url, server_update(version))
    assert server.status_code == 409
    assert server.json()["message"] == "Version must be incremented on update. Current version is: 3"
    cloud = cloud_put(url, cloud_update(version))
    assert cloud.status_code == 409 and cloud.json()["errors"][0]["code"] == "CONFLICT"
    assert fake.version(PAGE) == 3 and fake.body(PAGE) == "<p>results</p>"
    assert server_put(url, server_update(4)).status_code == 200 and fake.version(PAGE) == 4


def test_an_update_without_version_is_refused(url: str, fake: FakeConfluence) -> None:
    body = server_update(4)
    del body["version"]
    with expected_violations(r"PUT /rest/api/content/4711: request .*'version' is a required property"):
        answer = server_put(url, body)
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("Must supply an incremented version")


@pytest.mark.parametrize("edition", ["server", "cloud"])
def test_a_title_another_page_of_the_space_has_is_refused(
    url: str, fake: FakeConfluence, edition: str
) -> None:
    answer = (
        server_put(url, server_update(4, title="Other page"))
        if edition == "server"
        else cloud_put(url, cloud_update(4, title="Other page"))
    )
    assert answer.status_code == 400 and "A page with this title already exists" in answer.text
    assert fake.pages[PAGE].title == "Results" and fake.version(PAGE) == 3


@pytest.mark.parametrize("edition", ["server", "cloud"])
def test_storage_that_is_not_xhtml_is_refused(url: str, fake: FakeConfluence, edition: str) -> None:
    value = "<p>a < b</p>"
    answer = (
        server_put(url, server_update(4, value=value))
        if edition == "server"
        else cloud_put(url, cloud_update(4, value=value))
    )
    assert answer.status_code == 400 and "Error parsing xhtml" in answer.text
    assert fake.body(PAGE) == "<p>results</p>"


def test_the_content_resource_takes_json_only(url: str, fake: FakeConfluence) -> None:
    # What atlassian-python-api's Server attach_file sends to re-upload an existing attachment.
    with expected_violations(r"PUT /rest/api/content/att1: request .*multipart/form-data"):
        answer = requests.put(
            f"{url}/rest/api/content/att1",
            files={"file": ("chart.png", b"png", "image/png")},
            headers=XSRF,
            auth=BASIC,
            timeout=5,
        )
    assert answer.status_code == 415


# --- representations -------------------------------------------------------------------------------


def test_server_expands_the_body_only_when_asked(url: str) -> None:
    plain = requests.get(f"{url}/rest/api/content/{PAGE}", auth=BASIC, timeout=5).json()
    assert "body" not in plain and "body" in plain["_expandable"] and plain["version"]["number"] == 3
    expanded = requests.get(
        f"{url}/rest/api/content/{PAGE}", params={"expand": "body.storage,version"}, auth=BASIC, timeout=5
    ).json()
    assert expanded["body"]["storage"] == {
        "value": "<p>results</p>",
        "representation": "storage",
        "_expandable": {"content": ""},
    }


def test_cloud_v2_returns_the_body_in_the_format_asked(url: str) -> None:
    plain = requests.get(f"{url}/wiki/api/v2/pages/{PAGE}", auth=BASIC, timeout=5).json()
    assert plain["body"] == {} and plain["version"]["number"] == 3
    storage = requests.get(
        f"{url}/wiki/api/v2/pages/{PAGE}", params={"body-format": "storage"}, auth=BASIC, timeout=5
    ).json()
    assert storage["body"]["storage"] == {"representation": "storage", "value": "<p>results</p>"}


def test_cloud_v2_page_ids_are_numbers(url: str) -> None:
    with expected_violations(r"GET /wiki/api/v2/pages/Results: request .*id"):
        answer = requests.get(f"{url}/wiki/api/v2/pages/Results", auth=BASIC, timeout=5)
    assert answer.status_code == 400


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_cloud_v1_content_read_and_update_are_gone(url: str, method: str) -> None:
    # Removed from Cloud's description (CHANGE-864): no path matches, and the server answers 410.
    with expected_violations(rf"{method} /wiki/rest/api/content/{PAGE}: request breaks.*not found"):
        answer = requests.request(
            method, f"{url}/wiki/rest/api/content/{PAGE}", json=server_update(4), auth=BASIC, timeout=5
        )
    assert answer.status_code == 410


# --- attachments -----------------------------------------------------------------------------------


def upload(url: str, path: str, *, method: str = "POST", headers: dict | None = None, data: bytes = b"png"):
    return requests.request(
        method,
        url + path,
        files={"file": ("chart.png", data, "image/png")},
        data={"minorEdit": "true"},
        headers=XSRF if headers is None else headers,
        auth=BASIC,
        timeout=5,
    )


def test_uploads_need_the_xsrf_header(url: str, fake: FakeConfluence) -> None:
    with expected_violations(r"POST /rest/api/content/4711/child/attachment: request .*X-Atlassian-Token"):
        server = upload(url, f"/rest/api/content/{PAGE}/child/attachment", headers={})
    cloud = upload(url, f"/wiki/rest/api/content/{PAGE}/child/attachment", method="PUT", headers={})
    for answer in (server, cloud):
        assert answer.status_code == 403 and answer.text == "XSRF check failed"
    assert fake.attachments(PAGE) == {}


def test_server_creates_once_then_updates_the_data(url: str, fake: FakeConfluence) -> None:
    created = upload(url, f"/rest/api/content/{PAGE}/child/attachment")
    assert created.status_code == 200
    (attachment,) = created.json()["results"]
    again = upload(url, f"/rest/api/content/{PAGE}/child/attachment", data=b"png2")
    assert again.status_code == 400
    assert "same file name as an existing attachment: chart.png" in again.json()["message"]
    updated = upload(url, f"/rest/api/content/{PAGE}/child/attachment/{attachment['id']}/data", data=b"png2")
    assert updated.status_code == 200 and updated.json()["version"]["number"] == 2
    assert fake.attachments(PAGE)["chart.png"].data == b"png2"


def test_cloud_put_creates_or_updates_by_name(url: str, fake: FakeConfluence) -> None:
    path = f"/wiki/rest/api/content/{PAGE}/child/attachment"
    first = upload(url, path, method="PUT").json()["results"][0]
    second = upload(url, path, method="PUT", data=b"png2").json()["results"][0]
    assert first["id"] == second["id"] and second["version"]["number"] == 2
    assert upload(url, path).status_code == 400  # POST only creates


def test_an_attachment_over_the_maximum_size_is_refused(url: str, fake: FakeConfluence) -> None:
    fake.max_attachment_bytes = 3
    answer = upload(url, f"/wiki/rest/api/content/{PAGE}/child/attachment", method="PUT", data=b"four")
    assert answer.status_code == 404 and "maximum size" in answer.json()["message"]
    assert fake.attachments(PAGE) == {}


def test_attachment_lists_are_paginated_with_a_next_link(url: str, fake: FakeConfluence) -> None:
    for name in ("a.png", "b.png", "c.png"):
        requests.post(
            f"{url}/rest/api/content/{PAGE}/child/attachment",
            files={"file": (name, b"png", "image/png")},
            headers=XSRF,
            auth=BASIC,
            timeout=5,
        )
    listing = f"{url}/rest/api/content/{PAGE}/child/attachment"
    first = requests.get(listing, params={"limit": 2}, auth=BASIC, timeout=5).json()
    assert [a["title"] for a in first["results"]] == ["a.png", "b.png"] and first["size"] == 2
    assert first["_links"]["next"].endswith("child/attachment?limit=2&start=2")
    rest = requests.get(listing, params={"limit": 2, "start": 2}, auth=BASIC, timeout=5).json()
    assert [a["title"] for a in rest["results"]] == ["c.png"] and "next" not in rest["_links"]
    by_name = requests.get(listing, params={"filename": "b.png"}, auth=BASIC, timeout=5).json()
    assert [a["title"] for a in by_name["results"]] == ["b.png"]
    capped = requests.get(listing, params={"limit": 1000}, auth=BASIC, timeout=5).json()
    assert capped["limit"] == 100


# --- rate limits and faults ------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(url: str, fake: FakeConfluence) -> None:
    fake.fail_next(1, 429, retry_after=7)
    limited = requests.get(f"{url}/wiki/api/v2/pages/{PAGE}", auth=BASIC, timeout=5)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert requests.get(f"{url}/wiki/api/v2/pages/{PAGE}", auth=BASIC, timeout=5).status_code == 200
