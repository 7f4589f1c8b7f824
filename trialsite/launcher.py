"""Run the whole application, or its tests, with one command (``./dev up`` / ``./dev test``).

``up`` makes sure PostgreSQL and Redis are there (the embedded ones from ``trialsite.embedded`` when
``DATABASE_URL`` / ``REDIS_URL`` are not set), prepares the database, then runs the web server
(gunicorn), the Celery worker and Celery beat in the foreground, each output line prefixed with the
process's name. Ctrl-C or SIGTERM stops all three; if one of them dies, the others are stopped too
and the exit status is non-zero.

``test`` resolves the same URLs, then runs pytest with the given arguments.

Database roles (docs/operations.md): when ``DATABASE_URL`` names a superuser (CI's
``postgres://postgres@…``, the embedded server), ``up`` and ``manage`` first create two roles named
after the database (``<db>_owner`` owns everything, ``<db>_app`` runs the application; neither is a
superuser, passwords kept in the data directory), run ``migrate`` (which re-applies the grants) as the
owner, and everything else (web, worker, beat, ``manage.py shell`` …) as the app role.
``DATABASE_OWNER_URL`` reaches only ``migrate`` and ``db_roles``. ``test`` keeps the superuser: the
test runner creates its own database (tests/test_database_roles.py sets the roles up there).

Django is not imported here at module level: the URLs must be in ``os.environ`` before the
settings are read, so that every child process shares the same servers.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from trialsite import dbroles, embedded

BASE_DIR = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 30.0

USAGE = """\
usage: python -m trialsite.launcher COMMAND [ARGS]

  up             prepare the database, then run web server, Celery worker and beat (PORT, HOST)
  test [ARGS]    run pytest with ARGS
  lint           ruff check + makemigrations --check --dry-run
  manage ARGS    python manage.py ARGS
"""


def _print(message: str = "", *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    print(message, file=stream, flush=True)


def _fail(message: str, code: int = 1) -> int:
    _print(f"launcher: error: {message}", err=True)
    return code


# --- PostgreSQL and Redis ---------------------------------------------------------------------


@dataclass
class Services:
    database_url: str
    redis_url: str
    embedded_db: bool = False
    embedded_redis: bool = False
    notes: list[str] = field(default_factory=list)
    # The owning role's URL, for migrate and db_roles only (None: DATABASE_URL's role does everything).
    owner_url: str | None = None
    # Objects changed hands (made by a superuser before): the app role has no grants on them yet.
    needs_grants: bool = False
    # DATABASE_URL is a superuser's but the two roles could not be made: nothing may run as it.
    roles_error: str | None = None


def _maintenance_url(database_url: str) -> tuple[str, str] | None:
    """The URL of the server's ``postgres`` database and the database name in ``database_url``."""
    parts = urlsplit(database_url)
    db_name = unquote(parts.path.lstrip("/"))
    if not db_name or db_name == "postgres":
        return None
    scheme = "postgresql" if parts.scheme in {"postgres", "postgresql", "pgsql", "psql"} else None
    if scheme is None:
        return None
    return urlunsplit((scheme, parts.netloc, "/postgres", parts.query, "")), db_name


def _ensure_named_database(database_url: str, notes: list[str]) -> None:
    """Create the database that DATABASE_URL names if the server does not have it yet."""
    target = _maintenance_url(database_url)
    if target is None:
        return
    maintenance_url, db_name = target
    import psycopg

    deadline = time.monotonic() + 15
    while True:
        try:
            embedded.ensure_database(maintenance_url, db_name)
            return
        except psycopg.OperationalError as exc:
            # The server may still be starting (CI, docker compose): retry for a while.
            if time.monotonic() > deadline:
                notes.append(f"could not check or create database {db_name!r}: {str(exc).strip()}")
                return
            time.sleep(0.5)
        except psycopg.Error as exc:  # e.g. no CREATEDB privilege: migrate will say what is wrong
            notes.append(f"could not check or create database {db_name!r}: {str(exc).strip()}")
            return


def _database_roles(database_url: str, notes: list[str]) -> tuple[dbroles.Prepared | None, str | None]:
    """The two roles (created or updated) when ``database_url`` names a superuser, else None; and why
    they could not be set up, if so (then the application must not start as the superuser)."""
    import psycopg

    try:
        if not dbroles.is_superuser(database_url):
            return None, None
    except psycopg.Error as exc:  # no server: migrate will say what is wrong
        notes.append(f"could not check the database user: {str(exc).strip()}")
        return None, None
    try:
        return dbroles.prepare(database_url), None
    except (psycopg.Error, ValueError, PermissionError) as exc:
        return None, f"could not set up the database roles: {str(exc).strip()}"


def resolve_services(*, roles: bool = False) -> Services:
    """Fill DATABASE_URL and REDIS_URL in ``os.environ`` (starting embedded servers if need be). With
    ``roles``, a superuser's DATABASE_URL is replaced by the app role's (see the module docstring)."""
    notes: list[str] = []
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    embedded_db, embedded_redis = not database_url, not redis_url
    if embedded_db or embedded_redis:
        wanted = (("PostgreSQL", embedded_db), ("Redis", embedded_redis))
        which = " and ".join(name for name, on in wanted if on)
        _print(f"launcher: using the embedded {which} (started if not running; data in .local/)")
    if embedded_db:
        database_url = embedded.database_url()
    else:
        _ensure_named_database(database_url, notes)
    if embedded_redis:
        redis_url = embedded.redis_url()
    # Given only to the children that migrate or grant (_child_env), never to web, worker or beat.
    owner_url = os.environ.pop("DATABASE_OWNER_URL", None) or None
    needs_grants = False
    prepared, roles_error = _database_roles(database_url, notes) if roles else (None, None)
    if prepared is not None:
        database_url, owner_url, needs_grants = prepared.app_url, prepared.owner_url, prepared.needs_grants
        _print(f"launcher: database roles: {prepared.owner} owns the tables (migrate), "
               f"{prepared.app} runs the application")
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    for note in notes:
        _print(f"launcher: warning: {note}", err=True)
    return Services(database_url, redis_url, embedded_db, embedded_redis, notes, owner_url, needs_grants,
                    roles_error)


def _local_defaults(*, email: str, host: str | None = None) -> None:
    """What a developer's machine lacks and a deployment must set (docs/security.md): an e-mail server
    (here: e-mails printed to the log, or kept in memory for tests) and, on a loopback address served
    over plain http, cookies without the Secure flag (browsers other than Chromium drop them on http)."""
    if not os.environ.get("EMAIL_URL"):
        os.environ["EMAIL_URL"] = email
        if email.startswith("console") and host is not None:
            _print("launcher: EMAIL_URL is not set: e-mails are printed to the log (set EMAIL_URL for an SMTP server)")
    if host is not None and "DJANGO_SECURE_COOKIES" not in os.environ and host in {"127.0.0.1", "localhost", "::1"}:
        os.environ["DJANGO_SECURE_COOKIES"] = "0"


def _child_env(owner_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("DATABASE_OWNER_URL", None)
    if owner_url:
        env["DATABASE_OWNER_URL"] = owner_url
    return env


# manage.py commands that connect as the owning role; every other one runs as the app role.
OWNER_COMMANDS = (
    ("migrate",),
    ("db_roles",),
    ("visits", "benchmark"),  # ANALYZEs the visits table after its synthetic rows, which only the owner may
)


def _runs_as_owner(argv: Sequence[str]) -> bool:
    return any(tuple(argv[: len(command)]) == command for command in OWNER_COMMANDS)


def _manage(*args: str, owner_url: str | None = None) -> int:
    cmd = [sys.executable, str(BASE_DIR / "manage.py"), *args]
    return subprocess.call(cmd, cwd=BASE_DIR, env=_child_env(owner_url))  # noqa: S603 - our own manage.py


# --- child processes --------------------------------------------------------------------------

_COLOURS = {"web": "36", "worker": "32", "beat": "35"}


def _use_colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux: have the kernel send SIGTERM to the child if the launcher itself is killed."""
    os.setsid()
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _load_libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None)
    except OSError:
        return None


_LIBC = _load_libc()


class Child:
    def __init__(self, name: str, argv: Sequence[str], width: int, lock: threading.Lock) -> None:
        self.name = name
        self.argv = list(argv)
        self.lock = lock
        label = f"{name:<{width}} | "
        self.prefix = f"\033[{_COLOURS.get(name, '0')}m{label}\033[0m" if _use_colour() else label
        self.proc: subprocess.Popen[bytes] | None = None
        self.reader: threading.Thread | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - fixed commands built in this module
            self.argv,
            cwd=BASE_DIR,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # forked before any reader thread starts
        )

    def start_reader(self) -> None:
        self.reader = threading.Thread(target=self._pump, name=f"{self.name}-output", daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            with self.lock:
                sys.stdout.write(f"{self.prefix}{line}\n")
                sys.stdout.flush()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        # Each child leads its own process group: this reaches gunicorn's and Celery's workers too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)


class Supervisor:
    def __init__(self, commands: dict[str, Sequence[str]]) -> None:
        self.lock = threading.Lock()
        width = max(len(name) for name in commands)
        self.children = [Child(name, argv, width, self.lock) for name, argv in commands.items()]
        self.stop_requested = threading.Event()
        self.signals_seen = 0

    def say(self, message: str) -> None:
        with self.lock:
            sys.stdout.write(f"{message}\n")
            sys.stdout.flush()

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.signals_seen += 1
        self.stop_requested.set()
        if self.signals_seen > 1:  # a second Ctrl-C: no more waiting
            for child in self.children:
                child.signal_group(signal.SIGKILL)

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        with contextlib.suppress(AttributeError):
            signal.signal(signal.SIGHUP, self._on_signal)

    def start(self) -> None:
        # All children are forked before any thread exists (preexec_fn is not thread-safe).
        for child in self.children:
            child.start()
        for child in self.children:
            child.start_reader()

    def dead_child(self) -> Child | None:
        for child in self.children:
            if not child.running():
                return child
        return None

    def stop(self) -> None:
        for child in self.children:
            if child.running():
                child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while any(child.running() for child in self.children) and time.monotonic() < deadline:
            time.sleep(0.1)
        for child in self.children:
            if child.running():
                self.say(f"launcher: {child.name} did not stop within {STOP_GRACE_SECONDS:.0f} s; killing it")
            # Also reaches leftovers of a group whose leader has exited.
            child.signal_group(signal.SIGKILL)
        for child in self.children:
            if child.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(timeout=5)
            if child.reader is not None:
                child.reader.join(timeout=2)


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _local_address(host: str) -> str:
    if host in {"0.0.0.0", ""}:  # noqa: S104 - only mapping the bind address to a URL
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def _wait_for_http(url: str, supervisor: Supervisor, timeout: float) -> int | None:
    """Poll ``url`` until it answers HTTP; return the status, or None on timeout / stop / dead child."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if supervisor.stop_requested.is_set() or supervisor.dead_child() is not None:
            return None
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own http URL
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    return None


def _demo_users() -> tuple[list[dict], str | None]:
    """``trialsite.demo.DEMO_USERS``, or a note saying why there are none to show."""
    if importlib.util.find_spec("trialsite.demo") is None:
        return [], "trialsite/demo.py is missing: no demo logins to show"
    try:
        try:
            demo = importlib.import_module("trialsite.demo")
        except Exception:  # it may import models, which need Django set up first
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")
            import django

            django.setup()
            demo = importlib.import_module("trialsite.demo")
        users = [dict(user) for user in getattr(demo, "DEMO_USERS", None) or []]
    except Exception as exc:
        return [], f"could not read trialsite.demo.DEMO_USERS: {exc!r}"
    return users, None if users else "trialsite.demo.DEMO_USERS is empty"


def _cell(value: object) -> str:
    return "-" if value in (None, "") else str(value)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _banner(url: str, services: Services, status: int | None) -> str:
    users, note = _demo_users()
    lines = [f"trialsite is running at  {url}"]
    if status is None:
        wait = f"{READY_TIMEOUT_SECONDS:.0f} s"
        lines.append(f"(warning: {url}login/ did not answer within {wait}; see the web | lines)")
    elif status >= 500:
        lines.append(f"(warning: {url}login/ answered HTTP {status}; see the web | lines)")
    lines.append("")
    if users:
        keys = ("username", "password", "role", "site")
        lines.append("Demo logins:")
        rows = [(*keys, "one-time code"), *(
            (*(_cell(user.get(key)) for key in keys),
             f"./dev manage demo_code {user['username']}" if user.get("totp_secret") else "-")
            for user in users)]
        lines.extend(f"  {row}" for row in _table(rows))
    else:
        lines.append(f"Note: {note}")
    lines.append("")
    lines.append("Stop with Ctrl-C.")
    if services.embedded_db or services.embedded_redis:
        lines.append("The embedded PostgreSQL/Redis keep running for next time; ./dev stop stops them.")
    width = max(len(line) for line in lines) + 4
    rule = "=" * width
    return "\n".join(["", rule, *(f"  {line}" for line in lines), rule, ""])


def web_command(bind: str) -> list[str]:
    """The web server as ``up`` runs it (``portfolio benchmark`` measures this same server)."""
    return [
        sys.executable, "-m", "gunicorn", "trialsite.wsgi:application", "--bind", bind,
        "--workers", "2", "--threads", "2",
        "--access-logfile", "-", "--error-logfile", "-",
        "--graceful-timeout", str(int(STOP_GRACE_SECONDS) - 2),
    ]


def up(argv: Sequence[str]) -> int:
    if argv:
        return _fail(f"up takes no arguments (got {' '.join(argv)}); use PORT and HOST to change the address")
    host = os.environ.get("HOST", "127.0.0.1")
    try:
        port = int(os.environ.get("PORT", "8000"))
    except ValueError:
        return _fail(f"PORT must be a number, not {os.environ['PORT']!r}")
    # Links in notices and e-mails point at this server unless a deployment says otherwise.
    os.environ.setdefault("SITE_URL", f"http://{_local_address(host)}:{port}")
    _local_defaults(email="consolemail://", host=host)

    services = resolve_services(roles=True)
    if services.roles_error:
        return _fail(f"{services.roles_error}; not starting the application as a superuser")
    steps = [
        ("migrating the database", ["migrate", "--no-input", "--verbosity", "1"]),
        ("loading the trial protocols", ["load_protocols"]),
        ("creating the demo site and users", ["seed_demo"]),
        ("creating demo subjects with scans (QL1706, efficacy pages)", ["seed_demo_efficacy"]),
        ("creating demo subjects with samples and lab results (LVGN6051 + anlotinib, PK pages)", ["seed_demo_pk"]),
        ("collecting static files", ["collectstatic", "--no-input", "--verbosity", "0"]),
    ]
    for label, args in steps:
        _print(f"launcher: {label} (manage.py {' '.join(args)}) ...")
        code = _manage(*args, owner_url=services.owner_url if _runs_as_owner(args) else None)
        if code != 0:
            return _fail(f"`python manage.py {' '.join(args)}` failed with exit code {code}; not starting")

    if not _port_free(host, port):
        return _fail(f"{host}:{port} is already in use; stop what runs there or choose another PORT=...")

    bind = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    py = sys.executable
    supervisor = Supervisor(
        {
            "web": web_command(bind),
            "worker": [py, "-m", "celery", "-A", "trialsite", "worker", "-l", "info", "--concurrency", "2"],
            "beat": [py, "-m", "celery", "-A", "trialsite", "beat", "-l", "info"],
        }
    )
    supervisor.install_signal_handlers()
    supervisor.start()

    url = f"http://{_local_address(host)}:{port}/"
    status = _wait_for_http(f"{url}login/", supervisor, READY_TIMEOUT_SECONDS)
    if not supervisor.stop_requested.is_set() and supervisor.dead_child() is None:
        supervisor.say(_banner(url, services, status))

    exit_code = 0
    while not supervisor.stop_requested.is_set():
        dead = supervisor.dead_child()
        if dead is not None:
            assert dead.proc is not None
            code = dead.proc.returncode
            supervisor.say(
                f"launcher: {dead.name} exited unexpectedly (exit code {code}); stopping the others"
            )
            exit_code = code if code and code > 0 else 1
            break
        supervisor.stop_requested.wait(0.5)
    else:
        supervisor.say("launcher: stopping web, worker and beat ...")
    supervisor.stop()
    supervisor.say("launcher: stopped")
    return exit_code


# --- tests, lint, manage ----------------------------------------------------------------------


def _run_forwarding_signals(cmd: Sequence[str], owner_url: str | None = None) -> int:
    """Run ``cmd`` in the foreground; Ctrl-C reaches it directly, SIGTERM is passed on."""
    procs: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: object) -> None:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signum)

    # Python-level handlers, not SIG_IGN: the child gets the default ones back when it execs.
    # The terminal sends Ctrl-C to the child itself; here it is only kept from stopping us.
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGTERM, forward)
    procs.append(subprocess.Popen(cmd, cwd=BASE_DIR, env=_child_env(owner_url)))  # noqa: S603 - fixed commands
    code = procs[0].wait()
    return 128 - code if code < 0 else code


def test(argv: Sequence[str]) -> int:
    _local_defaults(email="memorymail://")
    resolve_services()
    # (tests/conftest.py collects the static files, as deployed, into a temporary folder.)
    code = _run_forwarding_signals([sys.executable, "-m", "pytest", *argv])
    if code == 5:
        _print("launcher: error: pytest collected no tests (exit code 5); that counts as a failure", err=True)
        return 1
    return code


def lint(argv: Sequence[str]) -> int:
    if argv:
        return _fail("lint takes no arguments")
    _local_defaults(email="memorymail://")
    ruff = Path(sys.executable).with_name("ruff")
    ruff_cmd = [str(ruff)] if ruff.exists() else [sys.executable, "-m", "ruff"]
    _print("launcher: ruff check .")
    ruff_code = subprocess.call([*ruff_cmd, "check", "."], cwd=BASE_DIR)  # noqa: S603
    resolve_services()
    _print("launcher: manage.py makemigrations --check --dry-run")
    migrations_code = _manage("makemigrations", "--check", "--dry-run")
    if migrations_code != 0:
        _print("launcher: error: models have changes without migrations (or makemigrations failed)", err=True)
    return 1 if ruff_code or migrations_code else 0


# manage.py commands that work in a database of their own, which they create and drop: they connect as the
# configured (super)user, not as the app role, which may not create a database.
OWN_DATABASE_COMMANDS = (("portfolio", "benchmark"),)


def manage(argv: Sequence[str]) -> int:
    _local_defaults(email="consolemail://")
    own_database = any(tuple(argv[: len(command)]) == command for command in OWN_DATABASE_COMMANDS)
    services = resolve_services(roles=not own_database)
    if services.roles_error:
        return _fail(f"{services.roles_error}; not running manage.py as a superuser")
    owner_url = services.owner_url if _runs_as_owner(argv) else None
    if services.needs_grants and tuple(argv[:1]) not in {("migrate",), ("db_roles",)}:
        _print("launcher: granting the app role its privileges (manage.py db_roles) ...")
        if _manage("db_roles", owner_url=services.owner_url) != 0:
            return _fail("manage.py db_roles failed (see above)")
    return _run_forwarding_signals([sys.executable, str(BASE_DIR / "manage.py"), *argv], owner_url)


COMMANDS = {"up": up, "test": test, "lint": lint, "manage": manage}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        _print(USAGE)
        return 0 if args else 2
    command = COMMANDS.get(args[0])
    if command is None:
        _print(USAGE, err=True)
        return _fail(f"unknown command {args[0]!r}", code=2)
    return command(args[1:])


if __name__ == "__main__":
    sys.exit(main())
