"""Tasks on the server: the one implementation of every operation on them.

The CLI, the REST API, the chat bot and any later UI call these; none writes its own.

- `lookup`: find a task (by name or id), list them as rows (next run, last state), show one,
  run one now (with parameter overrides);
- `manage`: enable, disable, delete, clone, export (deployment -> catalog YAML), cancel, explain;
- `save`: create or update one task from a mapping (validated as the catalog is);
- `scheduler`: start/stop (pause the work pool);  `audit`: the change trail as Prefect events
  (`audited`: every front end's changes, each one event with actor and before -> after; `read_audit`).
- `trash`: a deleted task waits there `trash.retention_days`: list, restore (the same task), purge.

May import `tasklane.history`, `deployments` and `tasklane.settings`; never the API, CLI or chat.
"""
