"""``manage.py db_roles``: the app role's privileges, (re)applied as the owning role. Idempotent.

``migrate`` runs it after every migration (``trialsite/management/commands/migrate.py``), so new tables
get their grants at once; run it alone after restoring a dump or changing roles by hand. ``--check``
only checks; ``--create-roles`` first creates the two roles as a superuser (``DATABASE_ADMIN_URL``),
which is what docker compose's ``migrate`` service does. See docs/operations.md, "Database roles".

The app role (the user of ``DATABASE_URL``) gets SELECT, INSERT, UPDATE and DELETE on the tables of
the schema and USAGE on its sequences, but on the audit tables (every pghistory event model, and
``pghistory_context``) only SELECT and INSERT: the audit triggers run with the privileges of whoever
changed the row, so they insert as the app role. No TRUNCATE, REFERENCES or TRIGGER anywhere, no
temporary tables (a temporary table named like an event table would catch the triggers' inserts), no
CREATE in the schema or the database. Only the owner may make pgtrigger skip a trigger
(``pgtrigger.ignore``). Ownership alone stops ``ALTER TABLE … DISABLE TRIGGER``; not being a superuser
stops ``SET session_replication_role``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from trialsite import dbroles

# alias -> the app role's user name, while that connection is switched to the owner.
_app_users: dict[str, str] = {}


@contextmanager
def owner_connection(alias: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Connection ``alias`` logs in as ``DATABASE_OWNER_URL``'s role while the block runs (no change when
    that is not set, or when already switched)."""
    owner = getattr(settings, "DATABASE_OWNER", None)
    if not owner or alias in _app_users:
        yield
        return
    conn = connections[alias]
    current = conn.settings_dict
    if owner.get("NAME") and owner["NAME"] != current["NAME"]:
        raise CommandError(f"DATABASE_OWNER_URL names database {owner['NAME']!r}, but DATABASE_URL names "
                           f"{current['NAME']!r}: both must name the application's database")
    keys = ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    saved = {key: current.get(key) for key in keys}
    conn.close()
    current.update({key: owner.get(key) or "" for key in ("USER", "PASSWORD", "HOST", "PORT")})
    current["OPTIONS"] = dict(owner.get("OPTIONS") or {})
    _app_users[alias] = saved["USER"]
    try:
        yield
    finally:
        conn.close()
        current.update(saved)
        del _app_users[alias]


def app_user(alias: str = DEFAULT_DB_ALIAS) -> str:
    """The app role: the user of ``DATABASE_URL`` (even while the connection is switched to the owner)."""
    user = _app_users.get(alias) or connections[alias].settings_dict.get("USER")
    if not user:
        raise CommandError("DATABASE_URL must name its user (postgres://USER:PASSWORD@HOST/DATABASE)")
    return user


@dataclass(frozen=True)
class AuditTables:
    events: list[str]  # the tables of every pghistory event model
    context: str  # pghistory's context table
    context_written: bool  # True while a tracker still stores its context there (ContextForeignKey)


def audit_tables() -> AuditTables:
    from pghistory.models import Context, Event

    events, written = set(), False
    for model in apps.get_models():
        if not issubclass(model, Event) or not model._meta.managed or model._meta.proxy:
            continue
        events.add(model._meta.db_table)
        with suppress(FieldDoesNotExist):
            written = written or model._meta.get_field("pgh_context").is_relation
    return AuditTables(sorted(events), Context._meta.db_table, written)


_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
# Columns of the event tables that only the database fills (the event's id; records.base: pgh_db_user).
DATABASE_FILLED = ("pgh_id", "pgh_db_user")
_AUDIT_REVOKED = ("UPDATE", "DELETE", "TRUNCATE")

# pgtrigger's own function (compiler.py), except that only the owner (or a superuser) may skip triggers.
_IGNORE_FUNCTION = """
CREATE OR REPLACE FUNCTION {function}(trigger_name NAME) RETURNS BOOLEAN AS $$
    DECLARE
        _pgtrigger_ignore TEXT[];
        _result BOOLEAN;
    BEGIN
        BEGIN
            SELECT INTO _pgtrigger_ignore CURRENT_SETTING('pgtrigger.ignore');
            EXCEPTION WHEN OTHERS THEN
        END;
        IF _pgtrigger_ignore IS NOT NULL THEN
            -- trialsite (manage.py db_roles): the app role never skips a trigger.
            IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
                            WHERE rolname = session_user AND (rolsuper OR rolname = {owner})) THEN
                RETURN FALSE;
            END IF;
            SELECT trigger_name = ANY(_pgtrigger_ignore) INTO _result;
            RETURN _result;
        ELSE
            RETURN FALSE;
        END IF;
    END;
$$ LANGUAGE plpgsql
"""


def _run(cursor, statement) -> None:
    cursor.execute(statement.as_string(cursor.db.connection))


def _columns(cursor, schema: str, table: str) -> list[str]:
    cursor.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                   "AND NOT attisdropped ORDER BY attnum", [f'"{schema}"."{table}"'])
    return [name for (name,) in cursor.fetchall()]


def apply_grants(cursor, *, app: str, owner: str, database: str, schema: str, tables: AuditTables) -> None:
    """The grants, as the owner, in the caller's transaction (so nobody sees them half-applied)."""
    from psycopg import sql

    ident, schema_id, db_id = sql.Identifier(app), sql.Identifier(schema), sql.Identifier(database)
    for template in (
        "REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC",
        "GRANT USAGE ON SCHEMA {schema} TO {app}",
        "REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC",
        "REVOKE TEMPORARY, CREATE ON DATABASE {db} FROM {app}",
        "GRANT CONNECT ON DATABASE {db} TO {app}",
        "REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM PUBLIC, {app}",
        f"GRANT {_TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {{schema}} TO {{app}}",
        "REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM PUBLIC, {app}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
    ):
        _run(cursor, sql.SQL(template).format(schema=schema_id, db=db_id, app=ident))
    existing = set(cursor.db.introspection.table_names(cursor))
    audited = [table for table in tables.events if table in existing]
    if audited:
        _run(cursor, sql.SQL("REVOKE {} ON TABLE {} FROM {}").format(
            sql.SQL(", ".join(_AUDIT_REVOKED)), sql.SQL(", ").join(map(sql.Identifier, audited)), ident))
    for table in audited:
        # The triggers leave the columns the database fills itself to their defaults; nor may anyone else
        # set them (a row added by hand still names its session user).
        every = _columns(cursor, schema, table)
        columns = [column for column in every if column not in DATABASE_FILLED]
        if len(columns) < len(every):
            _run(cursor, sql.SQL("REVOKE INSERT ON TABLE {} FROM {}").format(sql.Identifier(table), ident))
            _run(cursor, sql.SQL("GRANT INSERT ({}) ON TABLE {} TO {}").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table), ident))
    if tables.context in existing:
        # While a tracker still upserts its context there, its trigger needs UPDATE (ON CONFLICT DO UPDATE).
        revoked = _AUDIT_REVOKED[1:] if tables.context_written else _AUDIT_REVOKED
        _run(cursor, sql.SQL("REVOKE {} ON TABLE {} FROM {}").format(
            sql.SQL(", ".join(revoked)), sql.Identifier(tables.context), ident))
    trigger_schema = getattr(settings, "PGTRIGGER_SCHEMA", "public")
    cursor.execute("SELECT to_regprocedure(%s)", [f'"{trigger_schema}"._pgtrigger_should_ignore(name)'])
    if cursor.fetchone()[0] is not None:
        function = sql.SQL("{}.{}").format(sql.Identifier(trigger_schema), sql.Identifier("_pgtrigger_should_ignore"))
        _run(cursor, sql.SQL(_IGNORE_FUNCTION).format(function=function, owner=sql.Literal(owner)))


def problems(cursor, *, app: str, owner: str, database: str, schema: str, tables: AuditTables) -> list[str]:
    """What is wrong with the app role's privileges (empty when all is as docs/operations.md says)."""
    found: list[str] = []
    attributes = ", ".join(dbroles.FORBIDDEN_ATTRIBUTES)  # fixed column names
    cursor.execute(f"SELECT {attributes} FROM pg_roles WHERE rolname = %s", [app])  # noqa: S608
    row = cursor.fetchone()
    if row is None:
        return [f"role {app!r} does not exist"]
    found += [f"{app} has {attribute}" for attribute, on in zip(dbroles.FORBIDDEN_ATTRIBUTES, row, strict=True) if on]
    cursor.execute(
        """SELECT c.oid::regclass::text FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
            WHERE r.rolname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
           UNION ALL SELECT n.nspname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE r.rolname = %s
           UNION ALL SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
            WHERE r.rolname = %s
           ORDER BY 1""",
        [app, app, app],
    )
    owned = [name for (name,) in cursor.fetchall()]
    if owned:
        found.append(f"{app} owns {len(owned)} object(s), e.g. {', '.join(owned[:5])} "
                     f"(REASSIGN OWNED BY {app} TO {owner})")
    cursor.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [app, owner])
    if cursor.fetchone()[0]:
        found.append(f"{app} is a member of {owner} (REVOKE {owner} FROM {app})")
    existing = set(cursor.db.introspection.table_names(cursor))
    checks = [(table, _AUDIT_REVOKED) for table in tables.events if table in existing]
    if tables.context in existing:
        checks.append((tables.context, _AUDIT_REVOKED[1:] if tables.context_written else _AUDIT_REVOKED))
    for table, privileges in checks:
        for privilege in privileges:
            cursor.execute("SELECT has_table_privilege(%s, %s, %s)", [app, f'"{schema}"."{table}"', privilege])
            if cursor.fetchone()[0]:
                found.append(f"{app} may {privilege} the audit table {table}")
        for column in set(DATABASE_FILLED) & set(_columns(cursor, schema, table)):
            cursor.execute("SELECT has_column_privilege(%s, %s, %s, 'INSERT')", [app, f'"{schema}"."{table}"', column])
            if cursor.fetchone()[0]:
                found.append(f"{app} may set {table}.{column}")
    for privilege in ("TEMPORARY", "CREATE"):
        cursor.execute("SELECT has_database_privilege(%s, %s, %s)", [app, database, privilege])
        if cursor.fetchone()[0]:
            found.append(f"{app} has {privilege} on database {database}"
                         + (" (REVOKE TEMPORARY ON DATABASE … FROM PUBLIC)" if privilege == "TEMPORARY" else ""))
    cursor.execute("SELECT has_schema_privilege(%s, %s, 'CREATE')", [app, schema])
    if cursor.fetchone()[0]:
        found.append(f"{app} may CREATE in schema {schema}")
    if "django_migrations" in existing:
        cursor.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", [app, f'"{schema}"."django_migrations"'])
        if not cursor.fetchone()[0]:
            found.append(f"{app} has no privileges on the application's tables")
    return found


class Command(BaseCommand):
    help = ("Re-apply the app role's privileges (DATABASE_URL's user) as the owning role (DATABASE_OWNER_URL); "
            "idempotent. `migrate` runs it itself. See docs/operations.md.")

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)
        parser.add_argument("--check", action="store_true", help="only check the app role; exit 1 naming each problem")
        parser.add_argument(
            "--create-roles", action="store_true",
            help="first create the owner and the app role (names and passwords from DATABASE_OWNER_URL and "
                 "DATABASE_URL) and give the owner the database, as the superuser of DATABASE_ADMIN_URL",
        )

    def handle(self, *args, database, check, create_roles, verbosity, **options):
        app = app_user(database)
        if create_roles:
            self._create_roles(database, app)
        with owner_connection(database):
            conn = connections[database]
            with transaction.atomic(using=database), conn.cursor() as cursor:
                cursor.execute("SELECT current_user, current_database(), current_schema(), rolsuper "
                               "FROM pg_roles WHERE rolname = current_user")
                owner, db_name, schema, owner_is_superuser = cursor.fetchone()
                if owner == app:
                    message = (f"{app} both owns the tables and runs the application (no DATABASE_OWNER_URL): "
                               "no separate app role to grant to")
                    if check:
                        raise CommandError(message)
                    if verbosity >= 2:
                        self.stdout.write(f"db_roles: {message}")
                    return
                tables = audit_tables()
                facts = {"app": app, "owner": owner, "database": db_name, "schema": schema, "tables": tables}
                if not check:
                    apply_grants(cursor, **facts)
                found = problems(cursor, **facts)
        if owner_is_superuser:
            self.stderr.write(f"db_roles: warning: the owning role {owner} is a superuser; "
                              "give DATABASE_OWNER_URL a role that only owns the database (docs/operations.md)")
        if tables.context_written:
            self.stderr.write(f"db_roles: warning: pghistory still writes {tables.context}, so {app} keeps UPDATE "
                              "on it (set PGHISTORY_CONTEXT_FIELD to ContextJSONField)")
        if found:
            raise CommandError("the app role is not confined:\n  " + "\n  ".join(found))
        if verbosity >= 1:
            action = "checked" if check else "granted"
            self.stdout.write(f"db_roles: {action} {app} on {db_name} (owner {owner}): {_TABLE_PRIVILEGES} on "
                              f"the tables, only SELECT and INSERT on {len(tables.events)} audit tables and "
                              f"{tables.context}")

    def _create_roles(self, database: str, app: str) -> None:
        admin_url = os.environ.get("DATABASE_ADMIN_URL")
        owner = getattr(settings, "DATABASE_OWNER", None)
        if not admin_url or not owner:
            raise CommandError("--create-roles needs DATABASE_ADMIN_URL (a superuser, same database) and "
                               "DATABASE_OWNER_URL")
        name = connections[database].settings_dict["NAME"]
        if dbroles.database_name(admin_url) != name:
            raise CommandError(f"DATABASE_ADMIN_URL must name the application's database {name!r}")
        app_password = connections[database].settings_dict.get("PASSWORD") or ""
        import psycopg

        try:
            dbroles.create_roles(admin_url, dbroles.Role(owner["USER"], owner.get("PASSWORD") or ""),
                                 dbroles.Role(app, app_password))
        except (psycopg.Error, ValueError, PermissionError) as exc:
            raise CommandError(f"--create-roles: {exc}") from exc
        self.stdout.write(f"db_roles: roles {owner['USER']} (owner) and {app} (application) are ready on {name}")
