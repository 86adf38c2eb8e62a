"""What runs inside Prefect's own processes, started by the stack.

- `worker`: Prefect's process worker, also woken by its pool's flow-run events;
- `engine`: a flow run's process (`python -m tasklane.runtime.engine`): Prefect's flow-run
  engine, with Running proposed on time;
- `warm_start`: a zygote with Prefect imported that forks flow-run processes;
- `server`: `prefect server start` with SQLite transactions begun IMMEDIATE.

Imports Prefect and the standard library only: nothing of the project.
"""
