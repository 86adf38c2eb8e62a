"""The catalog -> Prefect deployments mapping, and nothing else.

What lives here:

- `catalog`: the task model (`TaskSpec`) and loading the YAML catalog; `jobs` and
  `integration_jobs` hold each task type's parameters, `task_types` the registry of types;
  `policy` the run policy (a task's retries, timeout, missed runs); `errors` this layer's errors.
- `schedules`: a task's schedules and their compilation to Prefect schedules.
- `templates`: reusable, parameterised task definitions.
- `pool`: the work pool and its priority queues.
- `apply`: the desired deployment of each task, `plan` and `apply` against the server.
- `automations`: the automations a deployment owns (dependency trigger, crash retry, alerts) and
  syncing them; `tags` the tag, label and mark names Tasklane writes on the server.
- `run_names`: the names of a task's runs (`backup-20261206-0200`) and of its result artifacts.
- `trash`: the trash mark on a deployment (a deleted task, kept and restorable) and the server
  changes that put a task in and out of the trash (`tasklane.tasks.trash` drives them).

What it may import: Prefect, `blocks` (notification blocks), `integrations` (for their error
types) and `tasklane.settings`. Never tasklane.api, cli, tasks, history, reports, stack or runtime
(they import this layer), and flows only by entrypoint strings (e.g. "flows.shell.shell_flow").
"""
