"""Jira Cloud and Data Center API descriptions (see README.md) and how they are vendored."""
