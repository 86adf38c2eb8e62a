"""The `python` task type: call `module:function(**kwargs)`, run a script file or inline code.

Sync on purpose: the job runs in the flow's main thread, where Prefect's timeout can
interrupt blocking calls (a signal), which it cannot do in a worker thread.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from deployments.jobs import PythonJob
from deployments.policy import RunPolicy
from flows._runtime import DEFAULT_POLICY, name_after_task, run_job
from integrations.python_job import extra_sys_path, load_callable, run_code, run_script


def run_python(job: PythonJob) -> Any:
    """Import and call the callable (or run the script or code); its return value is the result."""
    with extra_sys_path(job.path):
        if job.callable:
            return load_callable(job.callable)(**job.kwargs)
        if job.code is not None:
            return run_code(job.code)
        return run_script(job.script or "")


@flow(name="python", flow_run_name=name_after_task, log_prints=True)
def python_flow(job: PythonJob, policy: RunPolicy = DEFAULT_POLICY) -> Any:
    """Run a Python task with its retries and timeout."""
    return run_job(run_python, policy, "python-callable", job)
