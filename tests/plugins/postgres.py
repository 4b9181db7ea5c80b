"""Fixtures: a throwaway PostgreSQL cluster on loopback (owned by the sources work).

``postgres_url`` (session scope) finds ``initdb``/``pg_ctl`` (PATH or /usr/lib/postgresql/*/bin), creates a
cluster in a temporary directory, starts it on a free 127.0.0.1 port with its unix socket in that directory,
creates a database and yields ``postgresql://postgres@127.0.0.1:PORT/sfsync_test``; the server is stopped
and the directory removed at the end. PostgreSQL refuses to run as root, so under root the server runs
as an unprivileged user (``sfsync-test``, created when possible, else ``nobody``). Tests are skipped, with
the reason, only when the server binaries are absent (``make test`` installs them).

``pg_schema`` names a fresh schema in that database for one test (a state store opened on it creates it)
and drops it, with everything in it, afterwards; ``drop_schema`` does the dropping.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

TEST_USER = "sfsync-test"
DATABASE = "sfsync_test"
START_TIMEOUT_SECONDS = 60


def _version_key(path: str) -> list[int]:
    return [int(x) for x in Path(path).parent.name.split(".") if x.isdigit()]


def _find_bin() -> Path | None:
    """The directory holding initdb and pg_ctl: PATH first, then the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    candidates = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.access(Path(d) / "initdb", os.X_OK)]
    return Path(max(candidates, key=_version_key)) if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> str | None:
    """None when not root; else an unprivileged account to run the server as."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(TEST_USER)
        return TEST_USER
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd:
        subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
            check=False,
            capture_output=True,
        )
        try:
            pwd.getpwnam(TEST_USER)
            return TEST_USER
        except KeyError:
            pass
    return "nobody"


def drop_schema(url: str, schema: str) -> None:
    """Drop ``schema`` and everything in it from the database at ``url``, if it is there."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    bindir = _find_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; `make postgres` installs them")
    user = _server_user()
    base = Path(tempfile.mkdtemp(prefix="sfsync-pg-"))
    data, sock, log = base / "data", base / "sock", base / "server.log"
    sock.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    kwargs: dict[str, object] = {"env": env, "check": True, "capture_output": True, "text": True}
    if user is not None:
        entry = pwd.getpwnam(user)
        for p in (base, sock):
            os.chown(p, entry.pw_uid, entry.pw_gid)
        kwargs.update(user=entry.pw_uid, group=entry.pw_gid, cwd=str(base))
    port = _free_port()
    try:
        subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            **kwargs,  # type: ignore[call-overload]
        )
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off -c full_page_writes=off"
        subprocess.run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                opts,
                "-w",
                "-t",
                str(START_TIMEOUT_SECONDS),
                "start",
            ],
            **kwargs,  # type: ignore[call-overload]
        )
    except subprocess.CalledProcessError as e:
        detail = (e.stderr or "") + (log.read_text() if log.exists() else "")
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start the throwaway PostgreSQL cluster: {detail[-2000:]}")
    try:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            conn.execute(f"create database {DATABASE}".encode())
        yield f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"
    finally:
        subprocess.run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            **{**kwargs, "check": False},  # type: ignore[call-overload]
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    """A fresh schema name in ``postgres_url``'s database for this test's state, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    drop_schema(postgres_url, name)
