"""The automations a task's deployment owns, built from the catalog and synced by `apply`.

- `dependencies`: the deployment trigger that runs a task once its upstream tasks completed.
- `crash_retry`: putting a Crashed run back in line, and the server-wide zombie (heartbeat)
  detection that marks a run whose process is gone Crashed.
- `alerts`: the catalog's `notify:` compiled to automations that send notification blocks.
- `sync`: which automations a deployment owns and should own, and making the server match.

What it may import: Prefect, `blocks` (notification blocks), `tasklane.settings`, and
`deployments` modules below apply (`catalog`, `errors`, `tags`). Never `deployments.apply`
(apply imports this package), nor tasklane.api/cli/tasks/history/reports/stack/runtime.
Each automation's name and description are sentences for Prefect's UI (`retry backup after a
crash`); the tags marking it as a deployment's own, and of which kind, live in `deployments.tags`.
"""
