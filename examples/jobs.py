"""Python callables used by the example catalog (tasks.yaml)."""

from __future__ import annotations

import platform
import shutil
from datetime import UTC, datetime


def disk_usage(path: str = ".") -> dict[str, float | str]:
    """How full the disk holding `path` is; the dict is the run's result."""
    usage = shutil.disk_usage(path)
    return {
        "path": path,
        "used_percent": round(usage.used / usage.total * 100, 1),
        "free_gb": round(usage.free / 1e9, 2),
        "host": platform.node(),
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
