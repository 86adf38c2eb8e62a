"""PostgreSQL mode: the `server.database` setting, the local cluster of `tasklane.stack.postgres`,
and `tasklane up` (what `make up DB=postgres` runs) on it, for real.

The cluster tests skip, with the reason, where PostgreSQL is not installed and cannot be.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from tasklane.settings import ServerSettings
from tasklane.stack import postgres
from tasklane.stack.peers._server import free_port
from tasklane.stack.postgres import database_url
from tasklane.stack.processes import descendants

TASKLANE = str(Path(sys.executable).with_name("tasklane"))


@pytest.fixture(scope="module")
def bindir() -> Path:
    try:
        return postgres.ensure_installed(progress=lambda line: print(line))
    except postgres.PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL cannot be installed here: {exc}")


@pytest.fixture
def home() -> Iterator[Path]:
    """A state directory the `postgres` account can reach (pytest's tmp_path is 0700 root's)."""
    path = Path(tempfile.mkdtemp(prefix="tasklane-pg-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def owner(pid: int) -> str:
    return pwd.getpwuid(Path(f"/proc/{pid}").stat().st_uid).pw_name


async def fetch(cluster: postgres.Cluster, database: str, query: str):
    conn = await cluster._connect(database)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("sqlite", "sqlite"),
        ("postgres", "postgres"),
        ("PostgreSQL", "postgres"),
        ("postgresql+asyncpg://u:p@db:5432/prefect", "postgresql+asyncpg://u:p@db:5432/prefect"),
    ],
)
def test_database_setting_accepts_sqlite_postgres_and_urls(given: str, kept: str) -> None:
    assert ServerSettings(database=given).database == kept


@pytest.mark.parametrize("given", ["mysql", "postgresql://u:p@db/prefect", ""])
def test_database_setting_rejects_what_prefect_cannot_use(given: str) -> None:
    with pytest.raises(ValidationError, match="expected 'sqlite', 'postgres'"):
        ServerSettings(database=given)


def test_database_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasklane.settings import Settings

    monkeypatch.setenv("TASKLANE_SERVER__DATABASE", "postgres")
    assert Settings().server.database == "postgres"


def test_postgres_url_comes_from_the_cluster_under_home(tmp_path: Path) -> None:
    (tmp_path / "postgres").mkdir()
    (tmp_path / "postgres" / "password").write_text("s3cr/t+\n")
    (tmp_path / "postgres" / "port").write_text("54400\n")
    assert (
        database_url(tmp_path, "postgres")
        == "postgresql+asyncpg://postgres:s3cr%2Ft%2B@127.0.0.1:54400/prefect"
    )
    assert database_url(tmp_path, "sqlite").startswith("sqlite+aiosqlite:///")
    url = "postgresql+asyncpg://u:p@db:5432/x"
    assert database_url(tmp_path, url) == url


def fake_apt(tmp_path: Path, fail_installs: int) -> Path:
    """An apt-get that records its arguments and fails its first `fail_installs` installs."""
    script = tmp_path / "apt-get"
    script.write_text(
        "#!/bin/bash\n"
        f'echo "$DEBIAN_FRONTEND $*" >> {tmp_path}/calls\n'
        f'if [ "$1" = install ] && [ $(grep -c " install " {tmp_path}/calls) -le {fail_installs} ]; then\n'
        '  echo "E: Unable to locate package postgresql" >&2; exit 100\n'
        "fi\n"
    )
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("fail_installs", [0, 1, 2])
def test_missing_postgres_is_installed_with_apt_get_or_unavailable_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_installs: int
) -> None:
    apt = fake_apt(tmp_path, fail_installs)
    found = iter([None, Path("/opt/pg/bin")])
    monkeypatch.setattr(postgres, "find_bindir", lambda version=None: next(found))
    monkeypatch.setattr(postgres, "server_version", lambda bindir: "15")
    monkeypatch.setattr(postgres.shutil, "which", lambda name: str(apt) if name == "apt-get" else None)
    monkeypatch.setattr(postgres.os, "geteuid", lambda: 0)
    lines: list[str] = []
    if fail_installs < 2:
        assert postgres.ensure_installed(progress=lines.append) == Path("/opt/pg/bin")
        assert lines[-1] == "PostgreSQL 15 installed (/opt/pg/bin)"
    else:
        with pytest.raises(postgres.PostgresUnavailable, match="Unable to locate package postgresql"):
            postgres.ensure_installed(progress=lines.append)
    calls = (tmp_path / "calls").read_text().splitlines()
    install = "noninteractive install -y --no-install-recommends postgresql"
    expected = [install] if fail_installs == 0 else [install, "noninteractive update", install]
    assert calls == expected


def test_without_apt_get_postgres_is_unavailable_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres, "find_bindir", lambda version=None: None)
    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    with pytest.raises(postgres.PostgresUnavailable, match="no apt-get to install them"):
        postgres.ensure_installed()


def test_cluster_initialises_once_starts_on_its_port_and_stops_cleanly(home: Path, bindir: Path) -> None:
    cluster = postgres.Cluster(home, bindir=bindir)
    port = free_port()
    managed = cluster.start(progress=lambda line: None, port=port, database="first", no_sync=True)
    try:
        assert cluster.initialised and cluster.port == port
        assert cluster.url("first").endswith(f"@127.0.0.1:{port}/first")
        assert asyncio.run(fetch(cluster, "first", "SELECT current_database()")) == "first"
        # Its own process (the postmaster itself, in its own session), never root.
        assert managed.pid == os.getpgid(managed.pid)
        assert owner(managed.pid) == ("postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name)
        assert (cluster.password_file.stat().st_mode & 0o777) == 0o600
        assert cluster.socket_dir.is_dir()  # its socket lives here, not in /var/run/postgresql
        assert list(cluster.socket_dir.glob(".s.PGSQL.*"))
    finally:
        cluster.stop()
    assert not alive(managed.pid)
    assert "database system is shut down" in cluster.log.read_text()

    # A second start reuses the cluster (no initdb) and the port it recorded.
    again = postgres.Cluster(home, bindir=bindir)
    lines: list[str] = []
    again.start(progress=lines.append, database="first")
    try:
        assert not any("initialising" in line for line in lines)
        assert again.port == port
        assert asyncio.run(fetch(again, "first", "SELECT 1")) == 1
        with pytest.raises(postgres.PostgresError, match="already runs"):
            postgres.Cluster(home, bindir=bindir).start(progress=lambda line: None)
    finally:
        again.stop()


CATALOG = """
tasks:
  - name: pg-hello
    type: shell
    command: echo hello from postgres
"""


def test_up_on_postgres_and_down_stops_everything(tmp_path: Path, home: Path, bindir: Path) -> None:
    """`make up DB=postgres` (TASKLANE_SERVER__DATABASE=postgres) then `make down`."""
    port, api_port, pg_port = free_port(), free_port(), free_port()
    (home / "postgres").mkdir(parents=True)
    (home / "postgres" / "port").write_text(f"{pg_port}\n")  # the port it would have picked
    (tmp_path / "tasks.yaml").write_text(textwrap.dedent(CATALOG))
    env = {
        **os.environ,
        "TASKLANE_HOME": str(home),
        "TASKLANE_SERVER__PORT": str(port),
        "TASKLANE_SERVER__DATABASE": "postgres",
        "TASKLANE_SANDBOX": "false",
        "TASKLANE_POOL__NAME": "tasklane",
        "TASKLANE_PROJECT": "default",
        "TASKLANE_CATALOG": '["tasks.yaml"]',
        "TASKLANE_WORKER__QUERY_SECONDS": "1",
        "TASKLANE_API__PORT": str(api_port),
    }
    env.pop("PREFECT_API_URL")
    api = f"http://127.0.0.1:{port}/api"
    log = tmp_path / "up.log"
    with open(log, "w") as out:
        up = subprocess.Popen(
            [TASKLANE, "up"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while "Tasklane is up" not in log.read_text():
            assert up.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        text = log.read_text()
        assert f"PostgreSQL {postgres.server_version(bindir)} on 127.0.0.1:{pg_port}" in text
        assert f"database: PostgreSQL postgresql://postgres@127.0.0.1:{pg_port}/prefect" in text
        assert f"Prefect UI: http://127.0.0.1:{port}" in text
        assert httpx.get(f"{api}/health").status_code == 200

        # What the server keeps (here the catalog's deployment) is in PostgreSQL. Runs on
        # PostgreSQL are covered by the reliability tests' second pass (`make test-postgres`).
        cluster = postgres.Cluster(home)
        deployed = "SELECT count(*) FROM deployment WHERE name = 'pg-hello'"
        assert asyncio.run(fetch(cluster, "prefect", deployed)) == 1
        started = [up.pid, *descendants(up.pid)]
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
        assert postmaster in started
    finally:
        down = subprocess.run(
            [TASKLANE, "down"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90
        )
        up.wait(timeout=60)
    assert "tasklane up" in down.stdout
    time.sleep(0.5)
    assert not [p for p in started if alive(p)], "processes left after `tasklane down`"
    assert "database system is shut down" in (home / "logs" / "postgres.log").read_text()
