"""The `jira_export` task type: a Jira issue tree written to an .xlsx workbook (the seeds' JIRA_TASK_EXP).

The flow is thin: it loads the `jira-credentials` block the task names, fetches the tree with
`integrations.jira`, writes "Root Issues" / "Child Issues" with `integrations.jira_excel`, and
records two artifacts: a table of the root issues (bounded) and a markdown summary naming the
file and the counts. The job runs as a Prefect task under the catalog's retry policy; refused
credentials, unknown issues and rejected JQL fail at once (`retry_unless`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from blocks.jira import JiraCredentials
from deployments.integration_jobs import DEFAULT_EXPORT_PATH, JiraExportJob, artifact_key, fill_placeholders
from deployments.policy import RunPolicy
from flows._integrations import call_sync, load_credentials, run_integration_job
from flows._runtime import DEFAULT_POLICY, name_after_task
from integrations.jira import IssueTree, TreeOptions, fetch_issue_tree
from integrations.jira_excel import write_issue_tree_xlsx

# The table artifact is for a glance in the UI; the workbook holds everything.
ARTIFACT_ROWS = 50


def output_path(job: JiraExportJob, values: dict[str, str]) -> Path:
    """Where the workbook goes: the job's `output`, else `exports/<task>-<date>.xlsx` under the cwd."""
    path = Path(fill_placeholders(job.output or DEFAULT_EXPORT_PATH, values)).expanduser()
    return path if path.is_absolute() else (Path.cwd() / path).resolve()


def export(job: JiraExportJob, values: dict[str, str]) -> dict[str, Any]:
    """Fetch the tree and write the workbook; the counts and the path are the result."""
    block = load_credentials(
        JiraCredentials, job.block, "jira_export", "JiraCredentials(url=..., username=..., token=...)"
    )
    client = block.get_client(timeout=job.request_timeout)
    options = TreeOptions(
        link_types=tuple(job.link_types), max_depth=job.max_depth, epic_link_field=job.epic_link_field
    )
    tree = fetch_issue_tree(
        client,
        root_key=job.root_key,
        project_key=job.project_key,
        jql=job.jql,
        options=options,
        source=block.label,
    )
    report = write_issue_tree_xlsx(tree, output_path(job, values))
    print(
        f"wrote {report.root_rows} root and {report.child_rows} child issues from {block.url} "
        f"to {report.path} ({tree.requests} Jira requests)"
    )
    for reason in tree.skipped:
        print(f"skipped: {reason}")
    return {
        "path": str(report.path),
        "root_issues": report.root_rows,
        "child_issues": report.child_rows,
        "jira": block.url,
        "query": {"root_key": job.root_key, "project_key": job.project_key, "jql": job.jql},
        "requests": tree.requests,
        "skipped": list(tree.skipped),
        "roots": _root_rows(tree),
    }


def _root_rows(tree: IssueTree) -> list[dict[str, Any]]:
    rows = []
    for root in tree.roots[:ARTIFACT_ROWS]:
        total, done = tree.progress(root.key)
        rows.append(
            {
                "Key": root.key,
                "Summary": root.summary,
                "Type": root.type,
                "Status": root.status,
                "Assignee": root.assignee or "",
                "Children": total,
                "Done": done,
                "Progress": f"{done / total:.0%}" if total else "",
                "Link": root.url,
            }
        )
    return rows


def record_export(result: dict[str, Any], task: str) -> dict[str, Any]:
    """A table of the root issues and a markdown summary, kept on the server with the run.

    The run keeps the result without the root issues' rows: the tree is in the workbook.
    """
    shown = result["roots"]
    total = result["root_issues"]
    call_sync(
        create_table_artifact,
        table=shown,
        key=artifact_key("jira-roots", task),
        description=f"Root issues of {task}"
        + (f" (first {len(shown)} of {total})" if total > len(shown) else ""),
    )
    query = next(f"{k} `{v}`" for k, v in result["query"].items() if v)
    lines = [
        f"### Jira export `{task}`",
        "",
        f"- file: `{result['path']}`",
        f"- {result['root_issues']} root issues, {result['child_issues']} child issues",
        f"- from {result['jira']}, {query}, {result['requests']} requests",
    ]
    if result["skipped"]:
        lines.append(f"- skipped {len(result['skipped'])}:")
        lines += [f"  - {reason}" for reason in result["skipped"][:20]]
    call_sync(
        create_markdown_artifact,
        markdown="\n".join(lines),
        key=artifact_key("jira-export", task),
        description=f"Jira export of {task}",
    )
    return {key: value for key, value in result.items() if key != "roots"}


@flow(name="jira_export", flow_run_name=name_after_task, log_prints=True)
def jira_export_flow(job: JiraExportJob, policy: RunPolicy = DEFAULT_POLICY) -> Any:
    """Export a Jira issue tree to Excel with the task's retries and timeout."""
    return run_integration_job(export, policy, "jira-export", job, record_export)
