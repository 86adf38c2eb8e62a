"""A local PostgreSQL server for the Prefect server: find or install, initialise, start, stop.

`make up DB=postgres` (setting `server.database: postgres`) and the PostgreSQL test run
(`TASKLANE_TEST_DATABASE=postgres`) both come through here. Everything lives under
`<home>/postgres/`:

    data/       the cluster (initdb); owned by the `postgres` account when we run as root,
                because initdb and postgres refuse to run as root
    run/        its Unix socket directory (nothing else is touched: no /var/run/postgresql)
    password    the generated password of the cluster's superuser role `postgres` (0600)
    port        the TCP port picked the first time, reused while it is free

The server listens on 127.0.0.1 only, on a port of its own (54329 unless taken), with
scram-sha-256 password authentication over TCP and peer authentication on the socket. It runs
in the foreground as a child of the caller (its pid is the postmaster's), so `tasklane down` /
Ctrl-C stop exactly this server and never a system cluster.

When no PostgreSQL binaries are found, `ensure_installed` runs `apt-get install -y postgresql`
(root, or passwordless sudo). Where that is impossible it raises `PostgresUnavailable` with
the reason, which the tests turn into a skip.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from tasklane.stack.processes import Managed, StackError, sqlite_url, stop_process_tree

DEFAULT_PORT = 54329
DATABASE = "prefect"
SUPERUSER = "postgres"
SYSTEM_USER = "postgres"
READY_SECONDS = 60.0
STOP_SECONDS = 30.0
APT_TIMEOUT = 900

Progress = Callable[[str], None]


class PostgresUnavailable(StackError):
    """PostgreSQL is not installed here and cannot be installed (the reason is the message)."""


class PostgresError(StackError):
    """The local PostgreSQL server could not be initialised or started."""


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.name)) or (0,)


def find_bindir(version: str | None = None) -> Path | None:
    """The directory holding initdb, pg_ctl and postgres; a given major `version` first."""
    candidates: list[Path] = []
    if version:
        candidates += [Path(f"/usr/lib/postgresql/{version}/bin"), Path(f"/usr/pgsql-{version}/bin")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    for name in ("initdb", "pg_ctl"):
        found = shutil.which(name)
        if found:
            candidates.append(Path(found).resolve().parent)
    for root, pattern in ((Path("/usr/lib/postgresql"), "*/bin"), (Path("/usr"), "pgsql-*/bin")):
        candidates += sorted(root.glob(pattern), key=lambda p: _version_key(p.parent), reverse=True)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "postgres")):
            return bindir
    return None


def server_version(bindir: Path) -> str:
    """The major version of the binaries in `bindir`, e.g. "15"."""
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=30)
    match = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
    return match.group(1) if match else "?"


def ensure_installed(progress: Progress = print) -> Path:
    """The PostgreSQL bin directory, installing the distribution's package when it is missing."""
    bindir = find_bindir()
    if bindir:
        return bindir
    apt = shutil.which("apt-get")
    if not apt:
        raise PostgresUnavailable(
            "no PostgreSQL binaries (initdb, postgres) on this machine and no apt-get to install them; "
            "install PostgreSQL (13 or newer) or set server.database to a postgresql+asyncpg:// URL"
        )
    prefix: list[str] = []
    if os.geteuid() != 0:
        sudo = shutil.which("sudo")
        if not sudo or subprocess.run([sudo, "-n", "true"], capture_output=True).returncode != 0:
            raise PostgresUnavailable(
                "PostgreSQL is not installed and installing it needs root: "
                "run `sudo apt-get install -y postgresql` once, or run as root"
            )
        prefix = [sudo, "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [*prefix, apt, "install", "-y", "--no-install-recommends", "postgresql"]
    progress("PostgreSQL is not installed: apt-get install -y postgresql …")
    result = _run(install, env)
    if result.returncode != 0:
        progress("apt-get install failed; apt-get update and one more try …")
        _run([*prefix, apt, "update"], env)
        result = _run(install, env)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-6:])
        raise PostgresUnavailable(
            f"`apt-get install -y postgresql` failed (exit {result.returncode}):\n{tail}"
        )
    bindir = find_bindir()
    if not bindir:
        raise PostgresUnavailable("apt-get installed postgresql but no initdb/postgres binaries were found")
    progress(f"PostgreSQL {server_version(bindir)} installed ({bindir})")
    return bindir


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(argv, 124, "", f"timed out after {exc.timeout} s")


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As PostgreSQL binds: connections of an earlier run in TIME_WAIT do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Account:
    """Who initdb and postgres run as: the `postgres` account when we are root, else ourselves."""

    uid: int
    gid: int
    groups: list[int]
    name: str
    home: str

    @classmethod
    def for_cluster(cls) -> Account:
        if os.geteuid() != 0:
            entry = pwd.getpwuid(os.geteuid())
            return cls(entry.pw_uid, entry.pw_gid, os.getgroups(), entry.pw_name, entry.pw_dir)
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise PostgresUnavailable(
                f"running as root, but there is no {SYSTEM_USER!r} account to run PostgreSQL as "
                "(initdb and postgres refuse root); install the postgresql package, which creates it"
            ) from None
        groups = os.getgrouplist(entry.pw_name, entry.pw_gid)
        return cls(entry.pw_uid, entry.pw_gid, groups, entry.pw_name, entry.pw_dir)

    @property
    def switch(self) -> bool:
        return self.uid != os.geteuid()

    def popen_kwargs(self) -> dict:
        if not self.switch:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": self.groups}

    def env(self, bindir: Path) -> dict[str, str]:
        return {
            "PATH": f"{bindir}:/usr/bin:/bin",
            "HOME": self.home,
            "USER": self.name,
            "LOGNAME": self.name,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        }

    def can_traverse(self, path: Path) -> bool:
        st = path.stat()
        if self.uid == 0 or st.st_uid == self.uid:
            return bool(st.st_mode & 0o100)
        if st.st_gid in self.groups or st.st_gid == self.gid:
            return bool(st.st_mode & 0o010)
        return bool(st.st_mode & 0o001)


class Cluster:
    """The PostgreSQL cluster under `<home>/postgres/`."""

    def __init__(self, home: Path, *, bindir: Path | None = None):
        self.home = Path(home).resolve()
        self.dir = self.home / "postgres"
        self.data = self.dir / "data"
        self.socket_dir = self.dir / "run"
        self.password_file = self.dir / "password"
        self.port_file = self.dir / "port"
        self.log = self.home / "logs" / "postgres.log"
        self._bindir = bindir
        self.process: subprocess.Popen | None = None

    # -- what other modules ask -------------------------------------------------------------

    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    @property
    def port(self) -> int:
        try:
            return int(self.port_file.read_text().strip())
        except (OSError, ValueError):
            return DEFAULT_PORT

    @property
    def password(self) -> str:
        try:
            return self.password_file.read_text().strip()
        except OSError as exc:
            raise PostgresError(f"no {self.password_file}: the cluster was never set up") from exc

    def url(self, database: str = DATABASE) -> str:
        """The SQLAlchemy URL Prefect's server uses (asyncpg driver)."""
        return (
            f"postgresql+asyncpg://{SUPERUSER}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{self.port}/{database}"
        )

    def display_url(self, database: str = DATABASE) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    # -- set up -------------------------------------------------------------------------------

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            version = (self.data / "PG_VERSION").read_text().strip() if self.initialised else None
            self._bindir = find_bindir(version) or ensure_installed()
        return self._bindir

    def init(self, progress: Progress = print, *, no_sync: bool = False) -> None:
        """initdb the cluster (once), as the account that will run it."""
        account = Account.for_cluster()
        bindir = self.bindir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._reachable(account)
        if not self.password_file.exists():
            self.password_file.write_text(secrets.token_urlsafe(24) + "\n")
        self.password_file.chmod(0o600)
        for path in (self.dir, self.socket_dir, self.password_file):
            os.chown(path, account.uid, account.gid)
        self.dir.chmod(0o700)
        self.socket_dir.chmod(0o700)
        if self.initialised:
            self._check_version(bindir)
            if self.data.stat().st_uid != account.uid:  # e.g. made by another account, or copied
                _chown_tree(self.data, account.uid, account.gid)
            return
        if self.data.exists():
            shutil.rmtree(self.data)  # a half-made cluster from an interrupted initdb
        progress(f"initialising a PostgreSQL {server_version(bindir)} cluster in {self.data} …")
        argv = [
            str(bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            f"--pwfile={self.password_file}",
            "--auth-host=scram-sha-256",
            "--auth-local=peer",
            "--encoding=UTF8",
            "--locale=C",
        ]
        if no_sync:
            argv.append("--no-sync")
        result = subprocess.run(
            argv,
            env=account.env(bindir),
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=300,
            **account.popen_kwargs(),
        )
        if result.returncode != 0:
            shutil.rmtree(self.data, ignore_errors=True)
            output = f"{result.stdout}\n{result.stderr}".strip()
            raise PostgresError(f"initdb failed (exit {result.returncode}):\n{output}")

    def _reachable(self, account: Account) -> None:
        """The cluster account must be able to walk down to `<home>/postgres/`."""
        if not account.switch:
            return
        home = self.home
        if home.stat().st_uid == os.geteuid() and not account.can_traverse(home):
            home.chmod(home.stat().st_mode | 0o001)  # our own state directory: let it pass through
        for path in [*reversed(home.parents), home]:
            if not account.can_traverse(path):
                raise PostgresError(
                    f"the {account.name!r} account cannot enter {path} "
                    f"(mode {path.stat().st_mode & 0o777:o}), "
                    f"so PostgreSQL cannot use {self.data}; `chmod o+x {path}` or set TASKLANE_HOME "
                    "to a directory it can reach"
                )

    def _check_version(self, bindir: Path) -> None:
        made_by = (self.data / "PG_VERSION").read_text().strip()
        have = server_version(bindir)
        if made_by != have:
            raise PostgresError(
                f"{self.data} was made by PostgreSQL {made_by}, the binaries found are {have} ({bindir}); "
                f"install PostgreSQL {made_by}, or remove {self.dir} to start over (its data is lost)"
            )

    # -- run ----------------------------------------------------------------------------------

    def _running_postmaster(self) -> int | None:
        pid_file = self.data / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            return None
        return pid if cmd.endswith(b"postgres") or cmd.endswith(b"postmaster") else None

    def _choose_port(self, port: int | None) -> int:
        if port is not None:
            if not port_free(port):
                raise PostgresError(f"port {port} on 127.0.0.1 is taken; PostgreSQL needs a free one")
            chosen = port
        else:
            chosen = self.port if port_free(self.port) else _free_port()
        self.port_file.write_text(f"{chosen}\n")
        return chosen

    def start(
        self,
        progress: Progress = print,
        *,
        port: int | None = None,
        database: str = DATABASE,
        options: dict[str, str] | None = None,
        no_sync: bool = False,
    ) -> Managed:
        """Initialise if needed, start the server in the foreground and create `database`.

        Returns the server as a `Managed` process (pid = the postmaster) for the stack.
        """
        self.init(progress, no_sync=no_sync)
        running = self._running_postmaster()
        if running:
            raise PostgresError(
                f"a PostgreSQL server already runs on {self.data} (pid {running}), "
                "left by an earlier `tasklane up`; `make down` stops it"
            )
        account = Account.for_cluster()
        chosen = self._choose_port(port)
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.socket_dir),
            "unix_socket_permissions": "0700",
            "logging_collector": "off",
            **(options or {}),
        }
        argv = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(chosen)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        try:
            process = subprocess.Popen(
                argv,
                env=account.env(self.bindir),
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **account.popen_kwargs(),
            )
        finally:
            log.close()
        self.process = process
        managed = Managed("postgres", process, self.log)
        try:
            self._wait_ready(process)
            asyncio.run(self._ensure_database(database))
        except BaseException:
            self.stop()
            raise
        progress(f"PostgreSQL {server_version(self.bindir)} on 127.0.0.1:{chosen} (data: {self.data})")
        return managed

    async def _connect(self, database: str = "postgres"):
        import asyncpg

        return await asyncpg.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            password=self.password,
            database=database,
            timeout=5,
        )

    def _wait_ready(self, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + READY_SECONDS
        last: Exception | None = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise PostgresError(f"PostgreSQL exited with {process.returncode}; {self.log}:\n{tail}")

            async def ping() -> None:
                conn = await self._connect()
                await conn.close()

            try:
                asyncio.run(ping())
                return
            except Exception as exc:  # not up yet: refused, or "the database system is starting up"
                last = exc
            time.sleep(0.2)
        raise PostgresError(f"PostgreSQL did not accept connections within {READY_SECONDS:g} s: {last}")

    async def _ensure_database(self, database: str) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
            raise PostgresError(f"unusable database name {database!r}")
        conn = await self._connect()
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{database}"')
        finally:
            await conn.close()

    def create_database(self, database: str) -> str:
        """Create `database` on the running server (if missing) and return its URL."""
        asyncio.run(self._ensure_database(database))
        return self.url(database)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Fast shutdown (SIGINT to the postmaster), then the process tree if it hangs."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.kill(process.pid, signal.SIGINT)
            process.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            stop_process_tree(process.pid)
        self.process = None


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            if os.lstat(path).st_uid != uid:
                os.lchown(path, uid, gid)
    if root.stat().st_uid != uid:
        os.chown(root, uid, gid)


def main(argv: list[str] | None = None) -> int:
    """`python -m tasklane.stack.postgres install|status [HOME]`: the project's own install step."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "status"
    home = Path(args[1]) if len(args) > 1 else Path(os.environ.get("TASKLANE_HOME", ".tasklane"))
    try:
        if command == "install":
            bindir = ensure_installed()
            print(f"PostgreSQL {server_version(bindir)}: {bindir}")
        elif command == "status":
            bindir = find_bindir()
            cluster = Cluster(home, bindir=bindir)
            print(f"binaries: {bindir or 'not installed'}")
            print(f"cluster:  {cluster.data} ({'initialised' if cluster.initialised else 'not initialised'})")
            running = cluster._running_postmaster() if cluster.initialised else None
            state = f"running, pid {running}" if running else "not running"
            print(f"server:   {state} on port {cluster.port}")
        else:
            usage = "usage: python -m tasklane.stack.postgres install|status [HOME]"
            print(f"{usage} (not {command!r})", file=sys.stderr)
            return 2
    except PostgresUnavailable as exc:
        print(f"PostgreSQL unavailable: {exc}", file=sys.stderr)
        return 3
    return 0


def database_url(home: Path, database: str) -> str:
    """The server's SQLAlchemy URL: 'sqlite' (a file under home), 'postgres' (the local
    cluster of `tasklane.stack.postgres` under home/postgres/, started separately) or a URL as is."""
    if database == "sqlite":
        return sqlite_url(home)
    if database == "postgres":
        return Cluster(home).url()
    return database


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

