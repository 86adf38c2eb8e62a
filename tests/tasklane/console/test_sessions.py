"""The signing secret, and failed sign-ins locking a name from an address for longer each time."""

from __future__ import annotations

import stat
from pathlib import Path

from tasklane.console.sessions import FREE_FAILURES, MAX_LOCK_SECONDS, LoginThrottle, load_secret


def test_the_secret_is_made_once_and_kept_0600(tmp_path: Path) -> None:
    first = load_secret(tmp_path)
    assert len(first) >= 40 and load_secret(tmp_path) == first
    path = tmp_path / "console-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    assert load_secret(tmp_path) == first and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_failures_past_the_free_ones_lock_for_twice_as_long_each_time() -> None:
    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for _ in range(FREE_FAILURES):
        throttle.failed("Alice", "10.0.0.1")
        assert throttle.wait_seconds("alice", "10.0.0.1") == 0
    locks = []
    for _ in range(4):
        throttle.failed("alice", "10.0.0.1")
        locks.append(throttle.wait_seconds("alice", "10.0.0.1"))
    assert locks == [1, 2, 4, 8]
    # Another name, or the same name from another address, is not locked.
    assert throttle.wait_seconds("bob", "10.0.0.1") == 0
    assert throttle.wait_seconds("alice", "10.0.0.2") == 0
    now[0] += 8
    assert throttle.wait_seconds("alice", "10.0.0.1") == 0
    for _ in range(40):
        throttle.failed("alice", "10.0.0.1")
    assert throttle.wait_seconds("alice", "10.0.0.1") == MAX_LOCK_SECONDS
    throttle.succeeded("alice", "10.0.0.1")
    assert throttle.wait_seconds("alice", "10.0.0.1") == 0
