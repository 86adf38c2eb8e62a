"""integrations.confluence driven through atlassian-python-api against the fake Confluence over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from integrations.confluence import (
    ConfluencePages,
    TableLocator,
    find_tables,
    make_confluence_client,
    read_table,
    upsert_table,
)
from integrations.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    ServiceUnavailableError,
    TableNotFoundError,
    TableShapeError,
)
from tasklane.stack.peers._server import serve
from tasklane.stack.peers.confluence import FakeConfluence, storage_problem

PAGE_ID = "789012"

# Storage markup as Confluence keeps it: macros, entities, a code block whose CDATA mentions
# <table>, a layout, a first table, then the results table with a status macro in a cell.
SUMMARY_TABLE = (
    '<table class="wrapped"><colgroup><col /><col /></colgroup><tbody>'
    "<tr><th>Key</th><th>Value</th></tr>"
    "<tr><td>owner</td><td>ops&nbsp;team</td></tr>"
    "</tbody></table>"
)
RESULTS_TABLE = (
    '<table class="relative-table" style="width: 80.0%;"><colgroup><col style="width: 30%;" /><col />'
    "<col /></colgroup>\n<tbody>\n"
    "<tr><th><p>Task</p></th><th><p>Status</p></th><th>Finished</th></tr>\n"
    '<tr><td><p>backup</p></td><td><ac:structured-macro ac:name="status" ac:schema-version="1">'
    '<ac:parameter ac:name="title">RUNNING</ac:parameter></ac:structured-macro></td>'
    "<td>2024-03-10 12:00</td></tr>\n"
    '<tr><td>sync &amp; report</td><td>DONE</td><td><ac:link><ri:page ri:content-title="Run 7" />'
    "</ac:link></td></tr>\n"
    "</tbody></table>"
)
BEFORE = (
    '<ac:layout><ac:layout-section ac:type="single"><ac:layout-cell>'
    '<h1>Nightly&nbsp;jobs</h1><p>Owned by <ac:link><ri:user ri:userkey="8a7f" /></ac:link>.</p>'
    '<ac:structured-macro ac:name="code"><ac:plain-text-body><![CDATA[if a<b: print("<table>")]]>'
    "</ac:plain-text-body></ac:structured-macro>"
    "<h2>Summary</h2>" + SUMMARY_TABLE + "<h2>Results</h2>\n<p>Updated by Tasklane.</p>\n"
)
AFTER = '\n<p>Footnote &mdash; see <a href="https://example.com/?a=1&amp;b=2">runbook</a></p>' + (
    "</ac:layout-cell></ac:layout-section></ac:layout>"
)
BODY = BEFORE + RESULTS_TABLE + AFTER


@pytest.fixture()
def fake() -> FakeConfluence:
    fake = FakeConfluence()
    fake.add_page(PAGE_ID, "Nightly results", BODY, version=7)
    return fake


@pytest.fixture()
def base_url(fake: FakeConfluence) -> Iterator[str]:
    with serve(fake.app) as url:
        yield url


def pages_for(
    url: str, *, token: str = "pat-good", username: str | None = None, cloud: bool = False, **kwargs
) -> ConfluencePages:
    if cloud and username is None:  # Cloud takes basic auth only (account e-mail + API token)
        username, token = "bot", "bot-password"
    client = make_confluence_client(
        url, username, token, cloud=cloud, timeout=5, backoff_factor=0.01, max_backoff=0.05
    )
    return ConfluencePages(client, source="confluence/main", conflict_backoff=0.01, **kwargs)


@pytest.fixture()
def pages(base_url: str) -> ConfluencePages:
    return pages_for(base_url)


@pytest.fixture(params=["server", "cloud"])
def edition_pages(request: pytest.FixtureRequest, base_url: str) -> ConfluencePages:
    """Pages of Server/DC (REST v1, personal access token) or Cloud (REST v2, basic auth)."""
    return pages_for(base_url, cloud=request.param == "cloud")


def assert_only_table_changed(old: str, new: str) -> None:
    """Everything outside the results table is byte-identical."""
    start = old.index(RESULTS_TABLE)
    assert new[:start] == old[:start]
    assert new.endswith(old[start + len(RESULTS_TABLE) :])


# --- reading ---------------------------------------------------------------------------------


def test_reads_a_page_in_storage_format(pages: ConfluencePages) -> None:
    page = pages.read_page(PAGE_ID)
    assert (page.page_id, page.title, page.version) == (PAGE_ID, "Nightly results", 7)
    assert page.body == BODY


def test_table_found_by_heading(pages: ConfluencePages) -> None:
    table = pages.read_table(PAGE_ID, "results")
    assert table.headers == ["Task", "Status", "Finished"]
    assert table.heading == "Results"
    assert table.rows == [
        {"Task": "backup", "Status": "RUNNING", "Finished": "2024-03-10 12:00"},
        {"Task": "sync & report", "Status": "DONE", "Finished": ""},
    ]
    assert pages.read_rows(PAGE_ID, TableLocator(heading="Summary")) == [
        {"Key": "owner", "Value": "ops team"}
    ]


def test_table_found_by_header_cells(pages: ConfluencePages) -> None:
    assert pages.read_table(PAGE_ID, ["status", "Task"]).index == 1
    assert pages.read_table(PAGE_ID, TableLocator(heading="Summary", headers=("Key",))).index == 0


def test_markup_inside_cdata_is_not_a_table() -> None:
    assert [t["heading"] for t in find_tables(BODY)] == ["Summary", "Results"]


def test_missing_table_names_what_the_page_has(pages: ConfluencePages) -> None:
    with pytest.raises(TableNotFoundError) as caught:
        pages.read_table(PAGE_ID, "Errors")
    message = str(caught.value)
    assert "'Errors'" in message and "'Summary'" in message and "['Task', 'Status', 'Finished']" in message
    assert PAGE_ID in message


def test_unknown_page_is_not_found(pages: ConfluencePages) -> None:
    with pytest.raises(NotFoundError) as caught:
        pages.read_page("999")
    assert caught.value.status == 404 and "/rest/api/content/999" in str(caught.value)


# --- writing ---------------------------------------------------------------------------------


def test_upsert_updates_and_appends_leaving_the_rest_byte_identical(
    pages: ConfluencePages, fake: FakeConfluence
) -> None:
    result = pages.upsert_rows(
        PAGE_ID,
        "Results",
        [
            {"Task": "backup", "Status": "DONE", "Finished": "2024-03-10 12:05"},
            {"Task": "sync & report", "Status": "DONE"},  # unchanged
            {"Task": "cleanup", "Status": "FAILED"},
        ],
        "Task",
    )
    assert (result.changed, result.version, result.updated, result.appended, result.unchanged) == (
        True,
        8,
        1,
        1,
        1,
    )
    new = fake.body(PAGE_ID)
    assert fake.version(PAGE_ID) == 8
    assert_only_table_changed(BODY, new)
    # Untouched rows and cells keep their markup (the ac:link in the second row).
    assert "<td><p>backup</p></td><td>DONE</td><td>2024-03-10 12:05</td></tr>" in new
    assert (
        '<tr><td>sync &amp; report</td><td>DONE</td><td><ac:link><ri:page ri:content-title="Run 7" />' in new
    )
    assert "</tr><tr><td>cleanup</td><td>FAILED</td><td></td></tr>\n</tbody>" in new
    assert pages.read_rows(PAGE_ID, "Results")[-1] == {"Task": "cleanup", "Status": "FAILED", "Finished": ""}


def test_nothing_written_when_nothing_changes(pages: ConfluencePages, fake: FakeConfluence) -> None:
    result = pages.upsert_rows(PAGE_ID, "Results", [{"Task": "backup", "Status": "RUNNING"}], "Task")
    assert not result.changed and result.unchanged == 1
    assert fake.count(method="PUT") == 0 and fake.version(PAGE_ID) == 7


def test_cell_text_is_escaped_and_round_trips(pages: ConfluencePages, fake: FakeConfluence) -> None:
    nasty = "a < b && c > \"d\" 'e' <script>x</script>\nsecond line\x07"
    pages.append_rows(PAGE_ID, "Results", [{"Task": "weird", "Status": nasty}])
    new = fake.body(PAGE_ID)
    assert storage_problem(new) is None  # the fake would have refused it with a 400 anyway
    assert "&lt;script&gt;" in new and "<br />second line" in new
    row = pages.read_rows(PAGE_ID, "Results")[-1]
    assert row["Status"] == "a < b && c > \"d\" 'e' <script>x</script>\nsecond line\ufffd"
    # Writing the same value again is recognised as unchanged.
    assert not pages.upsert_rows(PAGE_ID, "Results", [{"Task": "weird", "Status": nasty}], "Task").changed


def test_rows_that_do_not_fit_are_refused_before_writing(
    pages: ConfluencePages, fake: FakeConfluence
) -> None:
    with pytest.raises(TableShapeError, match=r"'Colour'.*\['Task', 'Status', 'Finished'\]"):
        pages.upsert_rows(PAGE_ID, "Results", [{"Task": "x", "Colour": "red"}], "Task")
    with pytest.raises(TableShapeError, match="key column 'Name'"):
        pages.upsert_rows(PAGE_ID, "Results", [{"Task": "x"}], "Name")
    with pytest.raises(TableShapeError, match="no value for key column"):
        pages.upsert_rows(PAGE_ID, "Results", [{"Status": "x"}], "Task")
    assert fake.count(method="PUT") == 0


def test_merged_cells_are_refused() -> None:
    body = '<table><tbody><tr><th colspan="2">A</th></tr><tr><td>1</td><td>2</td></tr></tbody></table>'
    with pytest.raises(TableShapeError, match="merged cells"):
        read_table(body, ["A"])


def test_rows_go_into_the_body_after_a_thead() -> None:
    body = "<table><thead><tr><th>K</th></tr></thead><tbody>\n</tbody></table>"
    assert upsert_table(body, ["K"], [{"K": "a"}], "K").body == (
        "<table><thead><tr><th>K</th></tr></thead><tbody>\n<tr><td>a</td></tr></tbody></table>"
    )


def test_table_without_tbody_and_short_rows() -> None:
    body = "<p>x</p><table><tr><th>K</th><th>V</th></tr><tr><td>a</td></tr></table><p>y</p>"
    edit = upsert_table(body, ["K"], [{"K": "a", "V": "1"}, {"K": "b"}], "K")
    assert edit.body == (
        "<p>x</p><table><tr><th>K</th><th>V</th></tr><tr><td>a</td><td>1</td></tr>"
        "<tr><td>b</td><td></td></tr></table><p>y</p>"
    )


def test_concurrent_edit_by_another_user_is_kept(
    edition_pages: ConfluencePages, fake: FakeConfluence
) -> None:
    # Both editions answer 409 to a stale version.number: the page is read again, the rows
    # applied to the new text, and the write retried; Alice's edit and our row both stay.
    pages = edition_pages
    fake.edit_before_next_put(PAGE_ID, lambda body: body.replace("Updated by Tasklane.", "Edited by Alice."))
    result = pages.upsert_rows(PAGE_ID, "Results", [{"Task": "backup", "Status": "DONE"}], "Task")
    assert result.conflicts == 1 and result.version == 9
    new = fake.body(PAGE_ID)
    assert "Edited by Alice." in new
    assert pages.read_rows(PAGE_ID, "Results")[0]["Status"] == "DONE"
    assert fake.count(method="PUT", status=409) == 1


def test_two_concurrent_writers_both_land(base_url: str, fake: FakeConfluence) -> None:
    writers = [pages_for(base_url), pages_for(base_url)]
    fake.hold_reads(2)  # both read version 7 before either writes: one of them must meet a 409
    errors: list[BaseException] = []

    def write(pages: ConfluencePages, task: str) -> None:
        try:
            pages.upsert_rows(PAGE_ID, "Results", [{"Task": task, "Status": "DONE"}], "Task")
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w, f"job-{i}")) for i, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors, errors
    assert fake.count(method="PUT", status=409) >= 1
    tasks = [row["Task"] for row in pages_for(base_url).read_rows(PAGE_ID, "Results")]
    assert sorted(tasks[2:]) == ["job-0", "job-1"] and len(tasks) == 4
    assert fake.version(PAGE_ID) == 9
    assert_only_table_changed(BODY, fake.body(PAGE_ID))


def test_conflicts_are_bounded(base_url: str, fake: FakeConfluence) -> None:
    pages = pages_for(base_url, max_conflict_retries=2)
    for i in range(3):
        fake.edit_before_next_put(
            PAGE_ID, lambda body, i=i: body.replace("</h1>", f"</h1><p>edit {i}</p>", 1)
        )
    with pytest.raises(ConflictError, match="409 after 3 attempts.*nothing was written"):
        pages.append_rows(PAGE_ID, "Results", [{"Task": "never"}])
    assert "never" not in fake.body(PAGE_ID) and fake.version(PAGE_ID) == 10


# --- faults ----------------------------------------------------------------------------------


def test_429_retry_after_is_honoured(pages: ConfluencePages, fake: FakeConfluence) -> None:
    fake.fail_next(1, 429, retry_after=1, methods={"PUT"})
    started = time.monotonic()
    result = pages.append_rows(PAGE_ID, "Results", [{"Task": "late", "Status": "DONE"}])
    assert time.monotonic() - started >= 1.0
    assert result.appended == 1 and fake.count(status=429) == 1
    assert [r["Task"] for r in pages.read_rows(PAGE_ID, "Results")].count("late") == 1


def test_5xx_is_retried_and_nothing_lost_or_doubled(pages: ConfluencePages, fake: FakeConfluence) -> None:
    fake.fail_next(2, 503)  # the read
    result = pages.append_rows(PAGE_ID, "Results", [{"Task": "a"}])
    fake.fail_next(2, 502, methods={"PUT"})
    pages.append_rows(PAGE_ID, "Results", [{"Task": "b"}])
    assert result.appended == 1 and fake.count(status=503) == 2 and fake.count(status=502) == 2
    assert [r["Task"] for r in pages.read_rows(PAGE_ID, "Results")][2:] == ["a", "b"]


def test_a_lost_answer_does_not_append_twice(edition_pages: ConfluencePages, fake: FakeConfluence) -> None:
    # The PUT is saved but answered 503; the resend meets our own version (409): we must notice.
    pages = edition_pages
    fake.lose_next_put_answers(1)
    result = pages.append_rows(PAGE_ID, "Results", [{"Task": "once"}])
    assert result.changed and result.version == 8
    assert [r["Task"] for r in pages.read_rows(PAGE_ID, "Results")].count("once") == 1
    assert fake.count(method="PUT", status=409) == 1


def test_5xx_that_persists_fails_and_writes_nothing(pages: ConfluencePages, fake: FakeConfluence) -> None:
    fake.fail_next(10, 500, methods={"PUT"})
    with pytest.raises(ServiceUnavailableError, match=r"PUT .*/rest/api/content/789012 answered 500"):
        pages.append_rows(PAGE_ID, "Results", [{"Task": "x"}])
    assert fake.body(PAGE_ID) == BODY and fake.version(PAGE_ID) == 7
    assert fake.count(method="PUT") == 5  # the first try and 4 retries


def test_401_fails_at_once_naming_url_and_block(base_url: str, fake: FakeConfluence) -> None:
    pages = pages_for(base_url, token="wrong")
    with pytest.raises(AuthenticationError) as caught:
        pages.read_page(PAGE_ID)
    message = str(caught.value)
    assert f"{base_url}/rest/api/content/{PAGE_ID}" in message and "'confluence/main'" in message
    assert caught.value.status == 401
    assert fake.count() == 1  # never retried


@pytest.mark.parametrize("url_suffix", ["", "/wiki"])
def test_cloud_pages_go_through_rest_v2(base_url: str, fake: FakeConfluence, url_suffix: str) -> None:
    # Cloud removed v1 content read/update (410): pages are read and written with REST v2, with
    # basic auth, whether the block's URL ends in /wiki or not.
    client = make_confluence_client(base_url + url_suffix, "bot", "bot-password", cloud=True, timeout=5)
    pages = ConfluencePages(client, source="confluence/cloud")
    pages.append_rows(PAGE_ID, ["Task"], [{"Task": "from cloud"}])
    assert fake.count(path=f"/wiki/api/v2/pages/{PAGE_ID}") == 2 and "from cloud" in fake.body(PAGE_ID)
    assert fake.count(path="/rest/api/") == 0


def test_cloud_refuses_a_bearer_token_at_once(base_url: str, fake: FakeConfluence) -> None:
    # Cloud's site URL takes e-mail + API token as basic auth; a personal access token (Server/DC
    # only) is answered 401, and that fails at once, naming the URL and the block.
    client = make_confluence_client(base_url, None, "pat-good", cloud=True, timeout=5)
    with pytest.raises(
        AuthenticationError, match=rf"{base_url}/wiki/api/v2/pages/{PAGE_ID}.*'confluence/cloud'"
    ):
        ConfluencePages(client, source="confluence/cloud").read_page(PAGE_ID)
    assert fake.count() == 1


@pytest.mark.parametrize(
    ("cloud", "error", "status"),
    [(False, AuthenticationError, 403), (True, NotFoundError, 404)],
    ids=["server", "cloud"],
)
def test_a_user_who_may_not_edit_fails_at_once(
    base_url: str, fake: FakeConfluence, cloud: bool, error: type[Exception], status: int
) -> None:
    # Server/DC answers 403 to a user who may view but not edit; Cloud's v2 answers 404 (it does
    # not tell "hidden" from "read-only"). Either fails at once: nothing written, never retried.
    fake.deny_edit("bot")
    pages = pages_for(base_url, cloud=cloud)
    with pytest.raises(error) as caught:
        pages.append_rows(PAGE_ID, "Results", [{"Task": "never"}])
    assert caught.value.status == status  # type: ignore[attr-defined]
    assert fake.version(PAGE_ID) == 7 and fake.count(method="PUT") == 1


# --- attachments -----------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", [False, True], ids=["server", "cloud"])
def test_attach_file_creates_then_versions_the_same_attachment(
    base_url: str, fake: FakeConfluence, tmp_path, cloud: bool
) -> None:
    pages = pages_for(base_url, cloud=cloud)
    chart = tmp_path / "runs-per-day.png"
    chart.write_bytes(b"\x89PNG first")
    first = pages.attach_file(PAGE_ID, chart)
    chart.write_bytes(b"\x89PNG second")
    second = pages.attach_file(PAGE_ID, chart)
    assert first["id"] == second["id"] and second["version"]["number"] == 2
    (stored,) = fake.attachments(PAGE_ID).values()
    assert (stored.name, stored.media_type, stored.data) == (
        "runs-per-day.png",
        "image/png",
        b"\x89PNG second",
    )
    if cloud:  # one "create or update" PUT each time
        assert fake.count(method="PUT", path="/wiki/rest/api/content/") == 2
    else:  # looked up by name, then created, then given new data
        assert fake.count(method="GET", path="/child/attachment") == 2
        assert fake.count(method="POST", path="/child/attachment/att") == 1


def test_attachment_over_the_size_limit_is_not_found(base_url: str, fake: FakeConfluence, tmp_path) -> None:
    # Cloud documents 404 for "the attachment exceeds the maximum configured attachment size".
    fake.max_attachment_bytes = 10
    big = tmp_path / "big.png"
    big.write_bytes(b"x" * 11)
    with pytest.raises(NotFoundError, match="maximum size of 10 bytes"):
        pages_for(base_url, cloud=True).attach_file(PAGE_ID, big)
    assert fake.attachments(PAGE_ID) == {}


def test_the_fake_speaks_what_the_library_itself_calls(base_url: str, fake: FakeConfluence) -> None:
    # get_page_by_id and update_page (which reads content/{id}/history for the version).
    client = make_confluence_client(base_url, None, "pat-good", timeout=5)
    page = client.get_page_by_id(PAGE_ID, expand="body.storage,version")
    assert page["version"]["number"] == 7 and page["body"]["storage"]["value"] == BODY
    client.update_page(PAGE_ID, "Nightly results", body=BODY.replace("Footnote", "Note"))
    assert fake.version(PAGE_ID) == 8 and "Note &mdash;" in fake.body(PAGE_ID)
    assert fake.count(path=f"/rest/api/content/{PAGE_ID}/history") == 1
