"""The `confluence_table` task type: rows upserted into, or appended to, a table of a Confluence page.

The flow loads the `confluence-credentials` block the task names, fills the run placeholders
into the rows (`{task}`, `{date}`, `{flow_run_url}`, ...), writes them with
`integrations.confluence.ConfluencePages` (409s re-read and re-applied there; a write that
changes nothing saves no new version) and records a table artifact of the rows written and a
link to the page.

Retries: the task's catalog policy applies to rate limits, server errors and lost connections
left over after the client's own retries. An upsert is idempotent. An append is not, but a PUT
whose answer was lost is recognised on the next attempt (the page already holds our version),
so the rows are not appended twice. Refused credentials, an unknown page or table and rows that
do not fit the table fail at once.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_link_artifact, create_table_artifact

from blocks.confluence import ConfluenceCredentials
from deployments.integration_jobs import ConfluenceTableJob, artifact_key, fill_placeholders
from deployments.policy import RunPolicy
from flows._integrations import call_sync, confluence_page_url, load_credentials, run_integration_job
from flows._runtime import DEFAULT_POLICY, name_after_task
from integrations.confluence import TableLocator

ARTIFACT_ROWS = 100


def rows_to_write(job: ConfluenceTableJob, values: dict[str, str]) -> list[dict[str, Any]]:
    """The job's rows with placeholders filled and the run columns added (one row of them if none)."""
    run_columns = {column: fill_placeholders(text, values) for column, text in job.run_columns.items()}
    rows = []
    for row in job.rows or [{}]:
        filled = {
            column: fill_placeholders(value, values) if isinstance(value, str) else value
            for column, value in row.items()
        }
        rows.append({**filled, **run_columns})
    return rows


def write_rows(job: ConfluenceTableJob, values: dict[str, str]) -> dict[str, Any]:
    """Write the rows; what changed on the page is the result."""
    block = load_credentials(
        ConfluenceCredentials, job.block, "confluence_table", "ConfluenceCredentials(url=..., token=...)"
    )
    pages = block.get_pages()
    locator = TableLocator(heading=job.table_heading, headers=tuple(job.table_headers))
    rows = rows_to_write(job, values)
    comment = fill_placeholders(job.version_comment, values) if job.version_comment else None
    if job.mode == "upsert":
        assert job.key_column is not None  # the model requires it for upsert
        written = pages.upsert_rows(job.page_id, locator, rows, job.key_column, version_comment=comment)
    else:
        written = pages.append_rows(job.page_id, locator, rows, version_comment=comment)
    print(
        f"{locator.describe()} on page {job.page_id} ({block.url}): {written.updated} updated, "
        f"{written.appended} appended, {written.unchanged} unchanged, now version {written.version}"
    )
    url = confluence_page_url(block.url, job.page_id)
    return {**written.as_dict(), "url": url, "rows": rows, "mode": job.mode}


def record_write(result: dict[str, Any], task: str) -> dict[str, Any]:
    """A table of the rows written and a link to the page; the result is what the run keeps."""
    rows = [{key: str(value) for key, value in row.items()} for row in result["rows"][:ARTIFACT_ROWS]]
    call_sync(
        create_table_artifact,
        table=rows,
        key=artifact_key("confluence-rows", task),
        description=(
            f"Rows {result['mode']}ed by {task}: {result['updated']} updated, {result['appended']} "
            f"appended, {result['unchanged']} unchanged (page version {result['version']})"
        ),
    )
    call_sync(
        create_link_artifact,
        link=result["url"],
        link_text=f"Confluence page {result['page_id']}",
        key=artifact_key("confluence-page", task),
        description=f"The page {task} writes to",
    )
    return result


@flow(name="confluence_table", flow_run_name=name_after_task, log_prints=True)
def confluence_table_flow(job: ConfluenceTableJob, policy: RunPolicy = DEFAULT_POLICY) -> Any:
    """Write rows into a Confluence table with the task's retries and timeout."""
    return run_integration_job(write_rows, policy, "confluence-table", job, record_write)
