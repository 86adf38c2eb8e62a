"""The dependency graph and the Templates page in a real browser (Playwright driving Debian's
chromium, as test_browser.py): the graph's SVG shows a -> b -> c and d, a node leads to its task;
an admin writes a custom template in the CodeMirror editor, a mistake is shown and the fixed
template is listed; a screenshot of each page lands in tests/artifacts/screenshots/."""

from __future__ import annotations

from tests.tasklane.console.browser_support import Screenshots, launched, signed_in

TEMPLATE = """name: browser-hello
category: greetings
description: Say hello from the browser
params:
  who: {type: string, required: true}
task:
  type: shell
  command: echo hello {{ who | quote }}
"""


def test_graph_and_templates_pages(chromium: str, served, project: str) -> None:
    from playwright.sync_api import expect

    server = served
    a, b, c, d = (f"{project}-{x}" for x in "abcd")
    for name, after in ((a, None), (b, a), (c, b), (d, None)):
        server.add_task(
            {
                "name": name,
                "type": "shell",
                "command": "echo hi",
                "group": "g",
                "depends_on": [after] if after else [],
            }
        )
    shot = Screenshots()

    with launched(chromium) as browser:
        page = signed_in(browser, server, "admin", viewport={"width": 1360, "height": 820})
        expect(page).to_have_url(f"{server.url}/console/tasks")

        page.click("#nav-graph")
        expect(page).to_have_url(f"{server.url}/console/graph")
        svg = page.locator("svg#graph")
        expect(svg).to_be_visible()
        for name in (a, b, c, d):
            expect(svg.locator(f'a.node[data-task="{name}"]')).to_be_visible()
        expect(svg.locator("path.edge")).to_have_count(2)
        boxes = {n: svg.locator(f'a.node[data-task="{n}"] rect').bounding_box() for n in (a, b, c)}
        assert boxes[a]["x"] < boxes[b]["x"] < boxes[c]["x"]  # drawn left to right, as they run
        shot(page, "graph")
        svg.locator(f'a.node[data-task="{b}"]').click()
        expect(page).to_have_url(f"{server.url}/console/tasks/{b}")

        page.click("#nav-templates")
        expect(page).to_have_url(f"{server.url}/console/templates")
        expect(page.locator('article[data-template="backup-dir"]')).to_be_visible()
        shot(page, "templates")
        page.click("#template-new")
        editor = page.locator(".CodeMirror")
        expect(editor).to_be_visible()
        expect(editor.locator(".CodeMirror-linenumber").first).to_be_visible()
        page.evaluate(
            "text => document.querySelector('.CodeMirror').CodeMirror.setValue(text)",
            TEMPLATE.replace("{{ who | quote }}", "{{ whom }}"),
        )
        page.click("#template-save")
        expect(page.locator("#template-problems")).to_contain_text("'whom', which is not a parameter")
        shot(page, "template-form")
        page.evaluate("text => document.querySelector('.CodeMirror').CodeMirror.setValue(text)", TEMPLATE)
        page.click("#template-save")
        expect(page).to_have_url(f"{server.url}/console/templates?saved=browser-hello")
        card = page.locator('article[data-template="browser-hello"]')
        expect(card).to_be_visible()
        card.locator('[data-action="use"]').click()
        expect(page).to_have_url(f"{server.url}/console/tasks/new?template=browser-hello")
    assert shot.all_drawn(3)
