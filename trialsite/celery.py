"""The Celery app: reads ``CELERY_*`` Django settings and finds each app's ``tasks`` module.

``outbox.acks`` connects the worker's acknowledgement of outbox rows (``task_postrun``): importing it
here makes it active in every process that runs tasks (worker, ``start_worker`` in the tests).
"""

import os

from celery import Celery

import outbox.acks  # noqa: F401 - connects the task_postrun handler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")

app = Celery("trialsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
