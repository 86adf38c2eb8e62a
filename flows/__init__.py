"""Tasklane's Prefect flows: what the deployments run.

One module per task type's flow (`shell`, `python`, `http`, `jira_export`, `confluence_table`,
`mattermost_notify`), plus the platform flows `report` (finished runs published to the report
targets) and `maintenance` (history retention). `_runtime` is what every task-type flow shares
(run policy, missed runs, result artifact), `_integrations` what the Jira, Confluence and
Mattermost ones and the report share (blocks loaded by name), `errors` their errors.

A flow only orchestrates thin `@task`s, one per side effect; flows and tasks take block names
and identifiers, never secrets, clients or big DataFrames.

May import: `blocks`, `integrations`, `deployments`, `tasklane.settings`, `tasklane.history`
and `tasklane.reports`; never `tasklane.api` or `tasklane.cli` (which import flows).
"""
