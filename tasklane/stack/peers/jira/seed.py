"""Seed data for the fake Jira: a small realistic project and a big generated one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tasklane.stack.peers.jira.store import PRIORITIES, FakeIssue


def demo_issues(*, cloud: bool) -> list[FakeIssue]:
    """A small realistic project DEMO (plus OPS and an archived SECRET issue).

    Tree under DEMO-1 (links followed: "blocks"; "relates to" for the cross-project one)::

        DEMO-1  Epic  In Progress
        ├── DEMO-2  Story  (Cloud: parent field; Server: Epic Link)
        │   ├── DEMO-3  Sub-task  Done
        │   ├── DEMO-4  Sub-task
        │   └── OPS-1   Task  (DEMO-2 relates to OPS-1)
        └── DEMO-5  Story  Done  (Epic Link in both; on Cloud also its parent, as Cloud sets it)
            └── DEMO-6  Task  (DEMO-5 blocks DEMO-6)
                └── DEMO-7  Bug  (DEMO-6 blocks DEMO-7; DEMO-7 blocks DEMO-6 and DEMO-1: cycles)
        DEMO-8  Epic  Done
        └── DEMO-9  Story  Done
            └── DEMO-10  Sub-task  Done
        DEMO-11 Bug, relates to SECRET-1 (archived: in links only, not searchable)
    """
    t0 = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)

    def at(days: int, hours: int = 0) -> datetime:
        return t0 + timedelta(days=days, hours=hours)

    return [
        FakeIssue(
            "DEMO-1",
            "Checkout revamp",
            "Epic",
            "In Progress",
            "High",
            "Alice Martin",
            at(0),
            at(20),
            "2024-06-30",
        ),
        FakeIssue(
            "DEMO-2",
            "Pay with saved card",
            "Story",
            "In Progress",
            "High",
            "Bob Chen",
            at(1),
            at(18),
            "2024-05-15",
            parent="DEMO-1" if cloud else None,
            epic=None if cloud else "DEMO-1",
            links=[("Relates", "OPS-1")],
        ),
        FakeIssue(
            "DEMO-3",
            "Card vault API",
            "Sub-task",
            "Done",
            "Medium",
            "Bob Chen",
            at(2),
            at(9),
            parent="DEMO-2",
        ),
        FakeIssue(
            "DEMO-4", "Card picker UI", "Sub-task", "To Do", "Low", None, at(2, 3), at(2, 3), parent="DEMO-2"
        ),
        FakeIssue(
            "DEMO-5",
            "Guest checkout",
            "Story",
            "Done",
            "Medium",
            "Carla Diaz",
            at(3),
            at(15),
            "2024-04-01",
            epic="DEMO-1",
            links=[("Blocks", "DEMO-6")],
        ),
        FakeIssue(
            "DEMO-6",
            "Address form validation",
            "Task",
            "In Review",
            None,
            "Carla Diaz",
            at(4),
            at(16),
            links=[("Blocks", "DEMO-7")],
        ),
        FakeIssue(
            "DEMO-7",
            "Totals wrong with coupons",
            "Bug",
            "Open",
            "Highest",
            None,
            at(5),
            at(17),
            links=[("Blocks", "DEMO-6"), ("Blocks", "DEMO-1")],
        ),
        FakeIssue("DEMO-8", "Search", "Epic", "Done", "Medium", "Alice Martin", at(6), at(30)),
        FakeIssue(
            "DEMO-9",
            "Search suggestions",
            "Story",
            "Done",
            "Medium",
            "Dan Evans",
            at(7),
            at(28),
            epic="DEMO-8",
        ),
        FakeIssue(
            "DEMO-10",
            "Suggest index",
            "Sub-task",
            "Done",
            "Low",
            "Dan Evans",
            at(7, 2),
            at(27),
            parent="DEMO-9",
        ),
        FakeIssue(
            "DEMO-11",
            "Crash on empty cart",
            "Bug",
            "To Do",
            "High",
            None,
            at(8),
            at(8),
            links=[("Relates", "SECRET-1")],
        ),
        FakeIssue("OPS-1", "Rotate payment keys", "Task", "To Do", "Medium", "Eve Fox", at(1), at(2)),
        FakeIssue("SECRET-1", "Archived incident", "Task", "Closed", "Low", None, at(0), at(0), hidden=True),
    ]


def big_project(
    *, cloud: bool, n: int = 5000, project: str = "BIG", stories_per_epic: int = 9, subtasks: int = 10
) -> list[FakeIssue]:
    """`n` issues in three levels: epics → stories → sub-tasks, plus "blocks" links between stories.

    With the defaults every epic carries 9 stories and 90 sub-tasks (100 issues), so 5,000 issues
    are 50 epics, 450 stories and 4,500 sub-tasks. Stories hang under their epic by the parent
    field on Cloud and by Epic Link on Server; every 10th story blocks the next one, and the last
    of each such pair blocks back (a cycle).
    """
    people = ["Alice Martin", "Bob Chen", "Carla Diaz", "Dan Evans", None]
    statuses = ["To Do", "In Progress", "Done", "Done", "In Review"]
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    issues: list[FakeIssue] = []
    number = 0

    def new(kind: str, summary: str, **kwargs: Any) -> FakeIssue:
        nonlocal number
        number += 1
        issue = FakeIssue(
            f"{project}-{number}",
            summary,
            kind,
            statuses[number % len(statuses)],
            list(PRIORITIES)[number % len(PRIORITIES)],
            people[number % len(people)],
            t0 + timedelta(hours=number),
            t0 + timedelta(hours=number, minutes=30),
            (t0 + timedelta(days=30 + number % 90)).date().isoformat() if number % 3 == 0 else None,
            **kwargs,
        )
        issues.append(issue)
        return issue

    stories: list[FakeIssue] = []
    while number < n:
        epic = new("Epic", f"Epic {number + 1}")
        for s in range(stories_per_epic):
            if number >= n:
                break
            story = new(
                "Story",
                f"Story {s + 1} of {epic.key}",
                parent=epic.key if cloud else None,
                epic=None if cloud else epic.key,
            )
            stories.append(story)
            for t in range(subtasks):
                if number >= n:
                    break
                new("Sub-task", f"Sub-task {t + 1} of {story.key}", parent=story.key)
    for i in range(0, len(stories) - 1, 10):
        stories[i].links.append(("Blocks", stories[i + 1].key))
        stories[i + 1].links.append(("Blocks", stories[i].key))
    return issues
