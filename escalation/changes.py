"""Which trials' escalation data changed: the database counts it itself (``TrialChange``).

Statement-level AFTER triggers on every table the escalation evidence and decision read add 1 to the
``TrialChange`` row of each trial a statement touched, whatever wrote it (a page, the API, an import, the admin,
a shell, a bulk statement). One trigger per table and operation, reading the statement's transition table: a
``bulk_create`` of 95,000 doses bumps its trials once. ``escalation.tasks.review_open_cohorts`` compares the
counter with what it saw last (``CohortReview``) and re-evaluates only the trials whose counter moved, or whose
next DLT window has closed since.

The SQL is generated here and installed by migration ``escalation.0006``; ``trigger_sql()`` and ``drop_sql()``
are what it runs, so the tables and the way each reaches its trial are stated once. (A change to them needs a
new migration running ``drop_sql()`` then ``trigger_sql()``.)

A second set of triggers (:data:`LIVE_TABLES`, migration ``escalation.0007``) gives the trial a new ``live``
value when what the dashboard counts beside the escalation changes: its visits and its sites. The dashboard's
cache keys its overdue counts on it (``escalation.board``).
"""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection, transaction

COUNTER = "escalation_trialchange"

# Set (transaction-local) while the periodic review writes what it decided: those writes do not count as changes
# to review (``seq``), though they change the ``version`` a page cache is keyed on. The review is idempotent
# (``decision_recommend`` on its own output records nothing), so its writes need no second evaluation; anyone
# else's writes in the meantime are counted as usual. See :func:`reviewing`.
REVIEWING = "escalation.reviewing"

# Table -> how a row of the transition table ``t`` reaches its trial id (a SELECT of one column, trial_id).
TABLES = {
    "trials_trial": "SELECT t.id AS trial_id FROM {rows} t",
    "trials_doselevel": "SELECT t.trial_id FROM {rows} t",
    "escalation_cohort": "SELECT t.trial_id FROM {rows} t",
    "subjects_subject": "SELECT t.trial_id FROM {rows} t",
    "subjects_doseadministration": ("SELECT s.trial_id FROM {rows} t "
                                    "JOIN subjects_subject s ON s.id = t.subject_id"),
    "subjects_adverseevent": "SELECT s.trial_id FROM {rows} t JOIN subjects_subject s ON s.id = t.subject_id",
    "escalation_escalationdecision": "SELECT t.trial_id FROM {rows} t",
    "escalation_signature": ("SELECT d.trial_id FROM {rows} t "
                             "JOIN escalation_escalationdecision d ON d.id = t.decision_id"),
    # What the dashboard shows beside the evidence (parts, RP2D): not read by a decision, but a change to a page
    # keyed on the version, and harmless to the review (one evaluation that records nothing).
    "trials_part": "SELECT t.trial_id FROM {rows} t",
    "escalation_rp2ddeclaration": "SELECT t.trial_id FROM {rows} t",
}

# What the dashboard counts live beside the escalation (the overdue and open visits per site): a change to any of
# these gives the trial a new ``live`` value, and touches neither ``seq`` nor ``version`` (escalation.board).
LIVE_TABLES = {
    "visits_plannedvisit": "SELECT s.trial_id FROM {rows} t JOIN subjects_subject s ON s.id = t.subject_id",
    "subjects_subject": "SELECT t.trial_id FROM {rows} t",  # a subject moved to another site
    "trials_trial_sites": "SELECT t.trial_id FROM {rows} t",  # a site added to the trial, or removed
    "trials_site": "SELECT ts.trial_id FROM {rows} t JOIN trials_trial_sites ts ON ts.site_id = t.id",  # renamed
}

# Operation -> the transition tables it has (an UPDATE may move a row to another trial: both sides count).
OPERATIONS = {
    "insert": ("REFERENCING NEW TABLE AS new_rows", ("new_rows",)),
    "update": ("REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows", ("new_rows", "old_rows")),
    "delete": ("REFERENCING OLD TABLE AS old_rows", ("old_rows",)),
}


@contextmanager
def reviewing():
    """The block's writes do not count as changes (the periodic review's own; ``escalation.tasks``). The
    setting is transaction-local and reset on the way out, so a caller's outer transaction is unaffected."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, 'on', true)", [REVIEWING])
        try:
            yield
        finally:
            cursor.execute("SELECT set_config(%s, 'off', true)", [REVIEWING])


def _name(table: str, operation: str, prefix: str = "trialchange") -> str:
    return f"{prefix}_{table}_{operation}"


def _triggers(tables: dict[str, str], prefix: str, declare: str, columns: str, values: str, on_conflict: str) -> str:
    """CREATE FUNCTION and CREATE TRIGGER for every table of ``tables`` and operation: an upsert of the counter
    row of each trial the statement touched. The rows are taken in trial order (ORDER BY), so two statements
    touching the same trials cannot deadlock on them."""
    parts = []
    for table, reach in tables.items():
        for operation, (referencing, sides) in OPERATIONS.items():
            name = _name(table, operation, prefix)
            touched = " UNION ".join(reach.format(rows=side) for side in sides)
            parts.append(f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
{declare}BEGIN
    INSERT INTO {COUNTER} (trial_id, {columns})
    SELECT x.trial_id, {values}
      FROM (SELECT DISTINCT y.trial_id FROM ({touched}) y WHERE y.trial_id IS NOT NULL) x
     ORDER BY x.trial_id
    ON CONFLICT (trial_id) DO UPDATE SET {on_conflict};
    RETURN NULL;
END $$;
CREATE TRIGGER {name} AFTER {operation.upper()} ON {table} {referencing}
    FOR EACH STATEMENT EXECUTE FUNCTION {name}();""")  # noqa: S608 - names are this module's constants
    return "\n".join(parts)


def _drops(tables: dict[str, str], prefix: str) -> str:
    return "\n".join(
        f"DROP TRIGGER IF EXISTS {_name(t, o, prefix)} ON {t}; DROP FUNCTION IF EXISTS {_name(t, o, prefix)}();"
        for t in tables for o in OPERATIONS
    )


def trigger_sql() -> str:
    """The triggers of :data:`TABLES` (migration 0006): ``seq`` + 1 (+ 0 while :func:`reviewing`) and a new
    ``version`` for each trial a statement touched."""
    return _triggers(
        TABLES, "trialchange",
        declare=("DECLARE\n    bump integer := "
                 f"CASE WHEN current_setting('{REVIEWING}', true) = 'on' THEN 0 ELSE 1 END;\n"),
        columns="seq, version", values="bump, gen_random_uuid()",
        on_conflict=f"seq = {COUNTER}.seq + bump, version = EXCLUDED.version")


def drop_sql() -> str:
    return _drops(TABLES, "trialchange")


def live_trigger_sql() -> str:
    """The triggers of :data:`LIVE_TABLES` (migration 0007): a new ``live`` value for each trial a statement
    touched (a new trial's row starts at ``seq`` 0)."""
    return _triggers(LIVE_TABLES, "triallive", declare="", columns="seq, live", values="0, gen_random_uuid()",
                     on_conflict="live = EXCLUDED.live")


def live_drop_sql() -> str:
    return _drops(LIVE_TABLES, "triallive")
