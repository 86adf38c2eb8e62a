"""Integrations: the code that talks to the outside world, in plain Python.

What lives here:

- `jira` (issue trees over atlassian-python-api) and `jira_excel` (the export workbook);
- `confluence` (pages and their tables, safe under concurrent edits);
- `mattermost` (posting messages, and the chat-command listener of ``tasklane listen``);
- `http` (one HTTP request of an HTTP task) and `python_job` (running a Python task's code);
- `report` (run statistics, charts, the report workbook and the Confluence results table);
- `errors`: the one error tree of the layer, drawn at its top;
- private helpers: `_http` (the one retry policy and status -> error mapping of the REST
  clients) and `_xlsx` (Excel plumbing shared by the workbooks).

What it may import: the standard library and third-party libraries only. Never Prefect, and
nothing of ours (`blocks`, `flows`, `deployments`, `tasklane`): those import from here, so that
everything here can be used and tested without a Prefect server, and credentials come in as
plain arguments (the `blocks` unwrap their secrets and call the factories here).
"""
