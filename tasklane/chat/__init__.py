"""The Mattermost chat bot (`tasklane listen`): run, status, list, report and help commands.

Calls the same operations as the CLI and the API (`tasklane.tasks`); may import the product's
packages, `integrations`, `blocks`, `deployments` and `tasklane.settings`.
"""
