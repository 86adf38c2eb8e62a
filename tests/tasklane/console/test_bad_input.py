"""Bad input to any console page: a 4xx page saying what was wrong, never a 500 or the API's JSON."""

from __future__ import annotations

import html

BAD_GETS = {
    "/console/runs/not-a-uuid": "No run 'not-a-uuid'",
    "/console/runs/" + "x" * 3000: "No run 'xxx",
    "/console/runs?since=garbage": "'garbage' is neither",
    "/console/runs?since=99999999d": "'99999999d' is neither",
    "/console/runs?offset=abc": "Not a valid request: offset:",
    "/console/stats?days=abc": "Not a valid request: days:",
    "/console/stats?start=x": "",
    "/console/tasks/no-such-task": "No task 'no-such-task'",
    "/console/tasks/x/edit": "",
    "/console/tasks/x/run-with": "",
    "/console/groups/%00": "",
    "/console/audit?since=garbage": "",
    "/console/templates/nope/edit": "",
    "/console/runs/not-a-uuid/logs/download": "",
}


def test_bad_input_answers_a_4xx_page_with_a_message(console) -> None:
    client = console.client("admin")
    wrong = []
    for url, message in BAD_GETS.items():
        response = client.get(url, follow_redirects=False)
        text = html.unescape(response.text)
        if not (400 <= response.status_code < 500 and "text/html" in response.headers["content-type"]):
            wrong.append(f"{url[:60]}: {response.status_code} {text[:120]!r}")
        elif 'class="error"' not in response.text or message not in text:
            wrong.append(f"{url[:60]}: no message {message!r} in the page")
    csrf = console.csrf("admin")
    posts = {
        "/console/tasks/batch": {"csrf": csrf},  # no action, no names
        "/console/tasks/nope/run": {"csrf": csrf},
        "/console/templates/new": {"csrf": csrf, "yaml": "::: not yaml [["},
    }
    for url, form in posts.items():
        response = client.post(url, data=form, follow_redirects=False)
        if not 400 <= response.status_code < 500 or "text/html" not in response.headers["content-type"]:
            wrong.append(f"POST {url}: {response.status_code} {response.text[:120]!r}")
    upload = {"file": ("t.bin", b"\xff\xfe\x00binary", "application/octet-stream")}
    response = client.post("/console/templates/import", data={"csrf": csrf}, files=upload)
    if response.status_code != 422:
        wrong.append(f"import of a binary file: {response.status_code}")
    assert not wrong, "\n".join(wrong)


def test_the_api_keeps_its_json_for_a_bad_query(console) -> None:
    response = console.client("admin").get(
        "/task_history?limit=abc", headers={"Authorization": f"Bearer {console.tokens['admin']}"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "limit"
