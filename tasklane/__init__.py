"""Tasklane: the product around the catalog -> deployments mapping (`deployments/`).

One package per noun; imports point one way (checked by import-linter, `make lint-imports`):

    api, cli, chat, stack           what people and programs touch
      -> tasks, history, reports    the one implementation of each operation
        -> deployments              the catalog as Prefect deployments (top-level package)
          -> settings               config.yaml and TASKLANE_*; imports nothing of ours

`runtime` (worker, flow-run engine, warm start, server patch) runs inside Prefect's processes
and imports none of the above. `stack` starts processes and the sandbox's peer servers.
"""
