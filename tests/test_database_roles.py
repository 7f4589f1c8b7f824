"""The audit cannot be rewritten at the database (issue 8, point 6).

The role set-up the launcher does for ``./dev up`` (trialsite/dbroles.py, then ``manage.py migrate``
as the owner, which re-applies the grants) is applied to the test database; then a connection of
its own logs in as the app role, the role the web server, the worker, beat and ``./dev manage shell``
use, and every way of rewriting or skipping the audit must fail with "permission denied" (SQLSTATE
42501), while the application's ordinary writes still work and are audited. The role is checked to
be no superuser first: as one, every statement here would succeed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.apps import apps
from django.conf import settings
from django.db import connections, transaction
from pghistory.models import Context, Event
from psycopg import errors, sql

from trialsite import dbroles, launcher

# (The mark makes pytest-django create the test database even when only this file runs; the tests
# themselves use connections of their own.)
pytestmark = pytest.mark.django_db

ALIAS = "app_role_under_test"
MANAGE_TIMEOUT = 600  # seconds: the machine may be busy


@dataclass(frozen=True)
class Roles:
    admin_url: str  # the test database, as the superuser the suite runs as
    owner_url: str
    app_url: str
    owner: str
    app: str
    data_dir: Path


def _url(settings_dict: dict) -> str:
    user = quote(settings_dict["USER"], safe="")
    password = settings_dict.get("PASSWORD") or ""
    auth = user + (f":{quote(password, safe='')}" if password else "")
    host = str(settings_dict.get("HOST") or (settings_dict.get("OPTIONS") or {}).get("host") or "")
    port = str(settings_dict.get("PORT") or "")
    name = quote(settings_dict["NAME"], safe="")
    if host.startswith("/"):  # a socket folder (the embedded server)
        return f"postgresql://{auth}@/{name}?host={quote(host, safe='')}" + (f"&port={port}" if port else "")
    return f"postgresql://{auth}@{host}{':' + port if port else ''}/{name}"


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    child_env = {key: value for key, value in os.environ.items() if key != "DATABASE_OWNER_URL"}
    child_env.update(DJANGO_SETTINGS_MODULE="trialsite.settings", **env)
    return subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args],
        cwd=settings.BASE_DIR, env=child_env, capture_output=True, text=True, timeout=MANAGE_TIMEOUT,
    )


@pytest.fixture(scope="module")
def roles(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        connections["default"].ensure_connection()  # (the embedded backend fills in its socket here)
        suite = connections["default"].settings_dict
        admin_url = _url(suite)
    # Never the development database: the teardown drops the roles it makes.
    assert suite["NAME"] == (suite.get("TEST") or {}).get("NAME") or suite["NAME"].startswith("test_"), suite["NAME"]
    if not dbroles.is_superuser(admin_url):
        pytest.skip("the suite's DATABASE_URL is no superuser: it cannot create the roles (./dev test gives one)")
    data_dir = tmp_path_factory.mktemp("data")
    saved = os.environ.get("TRIALSITE_DATA_DIR")
    os.environ["TRIALSITE_DATA_DIR"] = str(data_dir)  # the generated passwords go here, not in .local/
    try:
        prepared = dbroles.prepare(admin_url)  # what the launcher does with a superuser's DATABASE_URL
    finally:
        if saved is None:
            os.environ.pop("TRIALSITE_DATA_DIR")
        else:
            os.environ["TRIALSITE_DATA_DIR"] = saved
    # Then, as `./dev up` does: migrate as the owner, which re-applies the app role's grants.
    done = _manage("migrate", "--no-input", DATABASE_URL=prepared.app_url, DATABASE_OWNER_URL=prepared.owner_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"granted {prepared.app}" in done.stdout, done.stdout
    yield Roles(admin_url, prepared.owner_url, prepared.app_url, prepared.owner, prepared.app, data_dir)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        owner, app = sql.Identifier(prepared.owner), sql.Identifier(prepared.app)
        conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(owner))
        for role in (app, owner):
            conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
            conn.execute(sql.SQL("DROP ROLE {}").format(role))


@pytest.fixture
def app_conn(roles):
    """A psycopg connection of its own, as the app role; whatever a test does there is rolled back."""
    with psycopg.connect(roles.app_url) as conn:
        yield conn
        conn.rollback()


def event_tables() -> list[str]:
    return sorted({model._meta.db_table for model in apps.get_models()
                   if issubclass(model, Event) and model._meta.managed})


def refused(conn, statement: str, params=None) -> bool:
    """True when ``statement`` fails for want of privilege (anything else, success included, is False)."""
    try:
        with conn.transaction():
            conn.execute(statement, params)
            raise _RolledBack  # it worked: undo it, then report it
    except errors.InsufficientPrivilege:
        return True
    except _RolledBack:
        return False


class _RolledBack(Exception):
    pass


def test_the_app_role_is_no_superuser_and_owns_nothing(roles, app_conn):
    row = app_conn.execute(
        "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication "
        "FROM pg_roles WHERE rolname = current_user").fetchone()
    assert row == (roles.app, False, False, False, False, False)
    owned = app_conn.execute("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles "
                             "WHERE rolname = current_user)").fetchone()[0]
    assert owned == 0
    assert app_conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", [roles.owner]).fetchone()[0] is False
    # The owner owns every table and is no superuser either.
    with psycopg.connect(roles.owner_url) as owner_conn:
        assert owner_conn.execute("SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication "
                                  "FROM pg_roles WHERE rolname = current_user").fetchone() == (False,) * 5
        others = owner_conn.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
            "AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND c.relowner <> (SELECT oid FROM pg_roles "
            "WHERE rolname = current_user)").fetchall()
    assert others == []


def test_audit_rows_cannot_be_updated_deleted_or_truncated(app_conn):
    tables = {table: "pgh_label" for table in event_tables()}
    assert {"subjects_adverseeventevent", "trials_trialevent", "escalation_signatureevent"} <= set(tables)
    tables[Context._meta.db_table] = "metadata"  # pghistory_context: no longer written, locked all the same
    allowed = []
    for table, column in tables.items():
        for statement in (f'UPDATE "{table}" SET {column} = {column}',  # noqa: S608 - our own table names
                          f'DELETE FROM "{table}"',  # noqa: S608
                          f'TRUNCATE "{table}"'):
            if not refused(app_conn, statement):
                allowed.append(statement)
    assert allowed == []
    # Nor may a row added by hand claim another database user (the triggers leave it to the default).
    forged = [table for table in event_tables()
              if not refused(app_conn, f'INSERT INTO "{table}" (pgh_db_user) VALUES (%s)', ["postgres"])]  # noqa: S608
    assert forged == []


def test_triggers_cannot_be_disabled_dropped_or_skipped(app_conn):
    for table in ("subjects_adverseevent", "subjects_adverseeventevent", "escalation_signature"):
        assert refused(app_conn, f'ALTER TABLE "{table}" DISABLE TRIGGER ALL'), table
        assert refused(app_conn, f'ALTER TABLE "{table}" DISABLE TRIGGER USER'), table
    trigger = app_conn.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'subjects_adverseevent'::regclass "
                               "AND NOT tgisinternal LIMIT 1").fetchone()[0]
    assert refused(app_conn, f'DROP TRIGGER "{trigger}" ON subjects_adverseevent')
    assert refused(app_conn, "SET session_replication_role = replica")
    assert refused(app_conn, "SET LOCAL session_replication_role = replica")
    # A temporary table named like an event table would catch the triggers' unqualified inserts.
    assert refused(app_conn, "CREATE TEMP TABLE subjects_adverseeventevent (LIKE subjects_adverseeventevent)")
    assert refused(app_conn, "CREATE TABLE public.scratch (id int)")
    assert refused(app_conn, "CREATE SCHEMA scratch")
    assert refused(app_conn, "TRUNCATE subjects_adverseevent")  # TRUNCATE fires no row trigger


@pytest.fixture
def app_db(roles, django_db_blocker):
    """The Django ORM on a connection of its own as the app role (as the web server has)."""
    suite_settings = connections["default"].settings_dict
    app = dbroles.url_user(roles.app_url)
    connections.settings[ALIAS] = {**suite_settings, "USER": app.name, "PASSWORD": app.password}
    with django_db_blocker.unblock():
        yield ALIAS
        connections[ALIAS].close()
    del connections[ALIAS]
    del connections.settings[ALIAS]


class _Undo(Exception):
    pass


def test_the_application_writes_as_usual_and_is_audited_with_its_database_user(roles, app_db):
    from trials.models import Trial

    trial_event = apps.get_model("trials", "TrialEvent")
    with pytest.raises(_Undo), transaction.atomic(using=app_db):
        trial = Trial.objects.using(app_db).create(code="ROLES-CHECK", title="Roles", phase="I", design="3+3")
        trial.title = "Roles, renamed"
        trial.save(using=app_db)
        with connections[app_db].cursor() as cursor:
            # A raw SQL change, as from a psql session outside the application.
            cursor.execute("UPDATE trials_trial SET phase = 'Ib' WHERE id = %s", [trial.pk])
            # pgtrigger's escape hatch is closed to the app role: the audit trigger still fires.
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'trials_trial'::regclass "
                           "AND NOT tgisinternal")
            names = ",".join(name for (name,) in cursor.fetchall())
            cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + names + "}"])
            cursor.execute("UPDATE trials_trial SET phase = 'II' WHERE id = %s", [trial.pk])
            cursor.execute("SELECT set_config('pgtrigger.ignore', '', true)")
        events = list(trial_event.objects.using(app_db).filter(pgh_obj_id=trial.pk).order_by("pgh_id")
                      .values_list("pgh_label", "phase", "pgh_db_user"))
        assert events == [("insert", "I", roles.app), ("update", "I", roles.app),
                          ("update", "Ib", roles.app), ("update", "II", roles.app)]
        raise _Undo  # leave the test database as it was


def test_sequences_and_reads_work_for_the_app_role(app_conn):
    assert app_conn.execute("SELECT count(*) FROM subjects_adverseeventevent").fetchone()[0] >= 0
    assert app_conn.execute("SELECT nextval(pg_get_serial_sequence('trials_site', 'id'))").fetchone()[0] > 0


def test_db_roles_check_names_what_is_wrong_with_a_superuser_app_role(roles):
    """The check refuses a set-up where the application would run as a superuser."""
    done = _manage("db_roles", "--check", DATABASE_URL=roles.admin_url, DATABASE_OWNER_URL=roles.owner_url)
    assert done.returncode != 0
    assert "has rolsuper" in done.stderr and "may UPDATE the audit table" in done.stderr, done.stderr
    done = _manage("db_roles", "--check", DATABASE_URL=roles.app_url, DATABASE_OWNER_URL=roles.owner_url)
    assert done.returncode == 0, done.stdout + done.stderr


def test_launcher_gives_the_owner_only_to_migrate(roles, monkeypatch):
    """``./dev up`` / ``./dev manage`` with a superuser's DATABASE_URL: everything but migrate and db_roles
    runs as the app role, and the owner's URL never reaches web, worker, beat or the shell."""
    monkeypatch.setenv("TRIALSITE_DATA_DIR", str(roles.data_dir))
    monkeypatch.setenv("DATABASE_URL", roles.admin_url)
    monkeypatch.setenv("REDIS_URL", os.environ.get("REDIS_URL", settings.REDIS_URL))
    monkeypatch.setenv("DATABASE_OWNER_URL", roles.owner_url)
    services = launcher.resolve_services(roles=True)
    assert services.database_url == roles.app_url == os.environ["DATABASE_URL"]
    assert services.owner_url == roles.owner_url
    assert "DATABASE_OWNER_URL" not in os.environ
    shell = launcher._child_env()  # what web, worker, beat and `manage.py shell` get
    assert shell["DATABASE_URL"] == roles.app_url and "DATABASE_OWNER_URL" not in shell
    assert launcher._child_env(services.owner_url)["DATABASE_OWNER_URL"] == roles.owner_url
    assert launcher._runs_as_owner(["migrate", "--no-input"]) and launcher._runs_as_owner(["db_roles"])
    assert not any(launcher._runs_as_owner([name]) for name in ("shell", "dbshell", "runserver", "seed_demo"))
