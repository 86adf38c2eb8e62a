"""Reports: what the report flow publishes about finished runs, and how far it has got.

- `watermark`: the report's progress (a Prefect Variable), so no run is reported twice;
- `message_templates/`: the Jinja templates of the report's Mattermost message and markdown
  artifact (settings `report.template_dir` replaces them).

The rendering itself (tables, statistics, charts, workbooks) is `integrations.report`, which
knows nothing of Prefect. May import `tasklane.history`, `deployments` and `tasklane.settings`.
"""

from pathlib import Path

MESSAGE_TEMPLATE_DIR = Path(__file__).parent / "message_templates"
