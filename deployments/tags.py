"""The names Tasklane writes on the server: deployment tags and labels, and the marks that open
the descriptions of the automations a deployment owns.

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

# Every owned automation's description: OWNED_MARK, the deployment id, then the kind's mark.
OWNED_MARK = "tasklane-owned-by:"
DEPENDENCY_MARK = "tasklane-dependencies:"
CRASH_RETRY_MARK = "tasklane-crash-retries:"
ALERT_MARK = "tasklane-alert "
