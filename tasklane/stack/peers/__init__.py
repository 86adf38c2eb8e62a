"""Local peers that answer as Jira, Confluence and Mattermost do (paths, shapes, auth, errors).

The sandbox of `make up` serves them, and the tests drive the real client libraries against
them. Built on the standard library and the ASGI stack only: nothing of the project.
"""
