"""A local fake Jira, Cloud or Server/Data Center, for the real atlassian-python-api client.

One peer, split by concern (it imports the standard library, FastAPI and nothing of the project):

- `app`: `make_fake_jira`, the HTTP side: the paths of each edition, how each authenticates, and
  the answers each refuses with (its docstring lists them);
- `store`: `FakeJira` (``app.state.jira``), the issues and who may see them, the accounts, the test
  hooks (``inject``, ``requests``, ``count``, ``reset_log``), and Jira's payload shapes;
- `jql`: the JQL subset Tasklane sends, parsed; valid JQL beyond it is refused, never guessed;
- `seed`: `demo_issues` and `big_project`.

The real behaviour each part copies, and the test that holds it there: tests/fakes/README.md (jira).
"""

from tasklane.stack.peers.jira.app import make_fake_jira
from tasklane.stack.peers.jira.jql import JqlError
from tasklane.stack.peers.jira.seed import big_project, demo_issues
from tasklane.stack.peers.jira.store import (
    CAPTCHA_AFTER,
    CLOUD_EPIC_FIELD,
    SERVER_EPIC_FIELD,
    FakeIssue,
    FakeJira,
    RecordedRequest,
)

__all__ = [
    "CAPTCHA_AFTER",
    "CLOUD_EPIC_FIELD",
    "SERVER_EPIC_FIELD",
    "FakeIssue",
    "FakeJira",
    "JqlError",
    "RecordedRequest",
    "big_project",
    "demo_issues",
    "make_fake_jira",
]
