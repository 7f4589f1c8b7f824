"""The worker's side of the outbox: acknowledge a row once its task has run.

Connected to Celery's ``task_postrun`` signal when the Celery app is created (``trialsite.celery``), so
it is active in every worker, whatever task base class a task uses. ``task_postrun`` is sent in the
worker after the task function has returned (or raised), while the task's request — and so the
``outbox_id`` header the publisher put on the message — is still available:

* state SUCCESS: the row is acknowledged (``acked_at``), so the sweeper never publishes it again;
* state FAILURE: the error is kept on the row, which stays unacknowledged: the sweeper publishes it
  again after the timeout (a retry with back-off);
* no ``outbox_id`` header (a beat task, a ``.delay()`` from a shell): nothing to do.

A failure to acknowledge (the database is down at that instant) is logged and leaves the row
unacknowledged: the task runs once more later, which every task of the project tolerates.
"""

from __future__ import annotations

import logging

from celery import states
from celery.signals import task_postrun

log = logging.getLogger(__name__)


def outbox_id_of(task) -> int | None:
    from outbox.services import HEADER

    request = task.request
    value = getattr(request, HEADER, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(HEADER)
    return value


@task_postrun.connect(weak=False, dispatch_uid="outbox.acks.on_task_postrun")
def on_task_postrun(sender=None, task=None, state=None, retval=None, **_):
    task = task or sender
    if task is None:
        return
    outbox_id = outbox_id_of(task)
    if outbox_id is None:
        return
    from outbox.services import acknowledge, record_task_error

    try:
        if state == states.SUCCESS:
            acknowledge(outbox_id, task_name=task.name)
        elif state == states.FAILURE and isinstance(retval, BaseException):
            record_task_error(outbox_id, retval)
    except Exception:
        log.exception("outbox: could not record the outcome of %s for row %s; the sweeper will publish it "
                      "again", task.name, outbox_id)
