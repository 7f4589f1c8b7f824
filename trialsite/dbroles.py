"""The two PostgreSQL roles trialsite connects as (docs/operations.md, "Database roles").

* the **owner** owns the database, its ``public`` schema and every table, sequence and function in it.
  Only ``manage.py migrate`` and ``manage.py db_roles`` connect as it (``DATABASE_OWNER_URL``).
* the **app** role is what the web server, the Celery worker and beat and every other ``manage.py``
  command connect as (``DATABASE_URL``). It owns nothing and is no superuser, so it cannot
  ``ALTER TABLE … DISABLE TRIGGER``, ``SET session_replication_role`` or create temporary tables, and
  it has no UPDATE / DELETE / TRUNCATE on the audit tables (the grants: ``manage.py db_roles``).

Neither is a superuser. This module creates the two roles and hands existing objects to the owner; it
needs a superuser connection and is used by the launcher (``./dev up``, ``./dev manage``) when its
``DATABASE_URL`` names a superuser, and by ``manage.py db_roles --create-roles`` (docker compose).

Nothing here imports Django: the launcher runs it before the settings are read.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from trialsite import embedded

OWNER_SUFFIX = "_owner"
APP_SUFFIX = "_app"
# Role attributes neither role may have; `manage.py db_roles` checks the app role for each.
FORBIDDEN_ATTRIBUTES = ("rolsuper", "rolcreaterole", "rolcreatedb", "rolbypassrls", "rolreplication")
_NO_PRIVILEGES = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT LOGIN"
# Django's tables live in the default schema.
SCHEMA = "public"
_SYSTEM_DATABASES = {"", "postgres", "template0", "template1"}
# One role set-up at a time per database (two `./dev` commands started together).
_LOCK_KEY = 8_410_200_611


@dataclass(frozen=True)
class Role:
    name: str
    password: str


@dataclass(frozen=True)
class Prepared:
    """What the launcher gets back: the two URLs, and whether the grants must be (re)applied."""

    owner_url: str
    app_url: str
    owner: str
    app: str
    needs_grants: bool


def database_name(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def url_user(url: str) -> Role:
    parts = urlsplit(url)
    return Role(unquote(parts.username or ""), unquote(parts.password or ""))


def role_names(db_name: str) -> tuple[str, str]:
    """``<database>_owner`` and ``<database>_app`` (shortened with a hash past PostgreSQL's 63 bytes)."""
    base = db_name
    if len(base.encode()) > 63 - len(OWNER_SUFFIX):
        base = f"{base[:40]}_{hashlib.sha256(db_name.encode()).hexdigest()[:8]}"
    return base + OWNER_SUFFIX, base + APP_SUFFIX


def stored_password(role: str) -> str:
    """A password generated once per role and kept in the data directory (mode 600). Servers with
    trust authentication ignore it; with password authentication it is what the role logs in with."""
    folder = embedded.data_dir() / "db-roles"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / role
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(24))
    return path.read_text().strip()


def url_with_credentials(url: str, role: Role) -> str:
    """``url`` with its user and password replaced (host, port, database and query kept)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    userinfo = quote(role.name, safe="") + (f":{quote(role.password, safe='')}" if role.password else "")
    return urlunsplit((parts.scheme, f"{userinfo}@{host}", parts.path, parts.query, parts.fragment))


def _conninfo(url: str) -> str:
    # libpq reads postgres:// and postgresql:// alike; Django-style aliases are mapped.
    parts = urlsplit(url)
    if parts.scheme in {"pgsql", "psql", "postgis"}:
        return urlunsplit(("postgresql", *parts[1:]))
    return url


def connect(url: str, **kwargs):
    import psycopg

    return psycopg.connect(_conninfo(url), **kwargs)


def is_superuser(url: str) -> bool:
    with connect(url, autocommit=True, connect_timeout=10) as conn:
        return bool(conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0])


def create_roles(admin_url: str, owner: Role, app: Role) -> bool:
    """As the superuser of ``admin_url``: create (or update) the two roles, then give the database, its
    schema and every object in the schema to the owner. Idempotent. Returns True when anything changed
    hands or the app role has no grants yet, i.e. when ``manage.py db_roles`` must run."""
    from psycopg import errors, sql

    db_name = database_name(admin_url)
    if db_name in _SYSTEM_DATABASES:
        raise ValueError(f"refusing to set up roles in the {db_name or 'default'!r} database; name the application's")
    if owner.name == app.name:
        raise ValueError(f"the owner and the app role must differ (both are {owner.name!r})")
    with connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        me = conn.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        if not me[1]:
            raise PermissionError(f"{me[0]!r} is not a superuser: it cannot create the database roles")
        for role in (owner, app):
            ident = sql.Identifier(role.name)
            password = sql.SQL(" PASSWORD {}").format(sql.Literal(role.password)) if role.password else sql.SQL("")
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role.name]).fetchone()
            if not exists:
                try:
                    conn.execute(sql.SQL("CREATE ROLE {} " + _NO_PRIVILEGES).format(ident) + password)
                    continue
                except (errors.DuplicateObject, errors.UniqueViolation):
                    pass  # created meanwhile by another process: update it below
            conn.execute(sql.SQL("ALTER ROLE {} " + _NO_PRIVILEGES).format(ident) + password)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
            changed = _give_to_owner(conn, db_name, owner.name, app.name)
            table = f"{SCHEMA}.django_migrations"
            grants_missing = conn.execute(
                "SELECT to_regclass(%s) IS NOT NULL AND NOT has_table_privilege(%s, to_regclass(%s), 'SELECT')",
                [table, app.name, table],
            ).fetchone()[0]
    return bool(changed or grants_missing)


# Objects of the schema, other than those of extensions and those that follow their table (identity
# and serial sequences, row types): (kind for ALTER, PostgreSQL's quoted and qualified name).
_OBJECTS_SQL = """
SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                      WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
       c.oid::regclass::text
  FROM pg_class c
 WHERE c.relnamespace = %(schema)s AND c.relowner <> %(owner)s
   AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i'))))
UNION ALL
SELECT 'ROUTINE', p.oid::regprocedure::text
  FROM pg_proc p
 WHERE p.pronamespace = %(schema)s AND p.proowner <> %(owner)s
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype::text
  FROM pg_type t
 WHERE t.typnamespace = %(schema)s AND t.typowner <> %(owner)s AND t.typtype IN ('d', 'e', 'r')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
"""


def _oid(conn, query: str, name: str) -> int:
    return conn.execute(query, [name]).fetchone()[0]


def _give_to_owner(conn, db_name: str, owner: str, app: str) -> int:
    """The database, the ``public`` schema and what is in it, to ``owner``; no membership between the
    two roles. Returns how many objects changed hands."""
    from psycopg import sql

    owner_id, app_id = sql.Identifier(owner), sql.Identifier(app)
    owner_oid = _oid(conn, "SELECT oid FROM pg_roles WHERE rolname = %s", owner)
    changed = 0
    if _oid(conn, "SELECT datdba FROM pg_database WHERE datname = %s", db_name) != owner_oid:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(db_name), owner_id))
        changed += 1
    schema_oid = _oid(conn, "SELECT oid FROM pg_namespace WHERE nspname = %s", SCHEMA)
    if _oid(conn, "SELECT nspowner FROM pg_namespace WHERE nspname = %s", SCHEMA) != owner_oid:
        conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(SCHEMA), owner_id))
        changed += 1
    for kind, name in conn.execute(_OBJECTS_SQL, {"schema": schema_oid, "owner": owner_oid}).fetchall():
        # `name` is PostgreSQL's own quoted, schema-qualified spelling (regclass / regprocedure / regtype).
        conn.execute(sql.SQL(f"ALTER {kind} {name} OWNER TO {{}}").format(owner_id))
        changed += 1
    # The app role must not act as the owner through membership, in either direction.
    for member, group in ((app, owner), (owner, app)):
        if conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [member, group]).fetchone()[0]:
            conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), sql.Identifier(member)))
    conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(db_name), app_id))
    return changed


def prepare(admin_url: str) -> Prepared:
    """The launcher's role set-up: roles named after the database, passwords from the data directory."""
    owner_name, app_name = role_names(database_name(admin_url))
    owner, app = Role(owner_name, stored_password(owner_name)), Role(app_name, stored_password(app_name))
    needs_grants = create_roles(admin_url, owner, app)
    return Prepared(url_with_credentials(admin_url, owner), url_with_credentials(admin_url, app),
                    owner.name, app.name, needs_grants)
