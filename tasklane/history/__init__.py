"""Run history over Prefect's flow-run API: runs, logs, statistics, statuses, retention.

Every execution of a task is a Prefect flow run of its deployment.

- `runs`: `RunQuery` (which runs) and the reads built on it (pages, counts, records);
- `logs`: a run's logs, followed live or exported;  `stats`: statistics and state counts;
- `statuses`: the old systems' status words over Prefect states;  `results`: a run's result;
- `retention`: deleting old runs.

May import `deployments` and `tasklane.settings`; never tasks, the API, CLI or chat.
"""
