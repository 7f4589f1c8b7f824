"""trialsite: the web application that runs early-phase oncology trials at the site."""

from .celery import app as celery_app

__all__ = ("celery_app",)
