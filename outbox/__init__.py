"""The transactional outbox: ``enqueue`` instead of ``transaction.on_commit(lambda: task.delay(...))``.

``enqueue("app.tasks.name", *args)`` inserts an :class:`~outbox.models.OutboxMessage` row in the
caller's transaction, so the row exists exactly when the data that asked for the work was committed.
After commit it tries to publish the message to the broker at once; if the broker (Redis) is down,
the row stays pending (with the error) and nothing is raised into the request.

A row is delivered only when a worker has run its task: the row's id travels in the message's
``outbox_id`` header and the worker acknowledges the row after the task returned (``outbox.acks``,
Celery's ``task_postrun`` signal). :func:`deliver_pending` — the Celery beat task
``outbox.tasks.sweep``, ``manage.py outbox sweep``, the visit watch and every successful immediate send
call it — publishes rows never sent and re-publishes rows sent but not acknowledged within
``OUTBOX_ACK_TIMEOUT_SECONDS`` (the broker lost them, the worker died, the task failed). Rows are claimed
with ``SELECT … FOR UPDATE SKIP LOCKED``, so concurrent sweepers never publish one row twice at once.
Delivery is at least once: every task of this project is idempotent. See docs/outbox.md.
"""

from __future__ import annotations


def enqueue(task_name: str, *args, **kwargs):
    from outbox.services import enqueue as _enqueue

    return _enqueue(task_name, *args, **kwargs)


def deliver_pending(limit: int = 500) -> int:
    from outbox.services import deliver_pending as _deliver

    return _deliver(limit=limit)
