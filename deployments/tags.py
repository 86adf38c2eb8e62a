"""The names Tasklane writes on the server: deployment tags and labels, and the tags that mark the
automations a deployment owns.

`TASKLANE_TAG`, carried by every deployment Tasklane makes, is defined in
`tasklane.settings.reports` (reports select runs by it); import it from there.
This module imports nothing.
"""

from __future__ import annotations

# --- deployment tags, version and labels --------------------------------------------------------

PROJECT_TAG_PREFIX = "tasklane-project:"
VERSION_PREFIX = "tasklane-"
UPSTREAM_TAG_PREFIX = "upstream:"
# The deployment label keeping a task's `notify:` as written in its catalog (JSON, or "off" for
# `notify: off`); absent when the task writes none and follows settings `alerts.default_notify`.
NOTIFY_LABEL = "tasklane.notify"
NOTIFY_OFF = "off"

# --- marks of owned automations (see deployments.automations.sync) ------------------------------

# Every owned automation's tags: OWNED_MARK and the deployment id, and the kind's mark followed by
# what it encodes (`tasklane-alert:failed:<hash>`); its name and description are sentences.
OWNED_MARK = "tasklane-owned-by:"
DEPENDENCY_MARK = "tasklane-dependencies:"
CRASH_RETRY_MARK = "tasklane-crash-retries:"
ALERT_MARK = "tasklane-alert:"

# --- who owns a task's definition (deployments.ownership) ---------------------------------------

# The tag naming a task's home: `tasklane-home:file:tasks/ops.yaml`, `tasklane-home:api`, ...
HOME_TAG_PREFIX = "tasklane-home:"
# The task's definition as its home wrote it (the catalog mapping, JSON): export, the API's
# edits and the trash read it back instead of reverse-compiling the deployment.
DEFINITION_LABEL = "tasklane.definition"
# Whether the home's definition says enabled ("true"/"false") when it was last applied: apply
# changes the deployment's paused state only when this changes, so an operator's pause lasts.
ENABLED_IN_HOME_LABEL = "tasklane.enabled_in_home"

# --- the trash (deployments.trash, tasklane.tasks.trash) ----------------------------------------

# A deleted task's deployment is kept, marked with the time it went to the trash (UTC, ISO 8601):
# `tasklane-trashed:2026-05-01T12:00:00+00:00`; every list and lookup of tasks leaves it out.
TRASHED_TAG_PREFIX = "tasklane-trashed:"
# Beside it when the deployment was paused before it went to the trash: a restore keeps it paused.
TRASHED_PAUSED_TAG = "tasklane-trashed-paused"
