"""The REST API's routers, one per resource, under `/api/scheduler`: tasks, trash (deleted
tasks: list, restore), executions (runs and their logs), stats, templates, schedules (preview)
and audit; plus `/health`.

The old systems' paths and status names are `tasklane.api.compat`'s.
"""
