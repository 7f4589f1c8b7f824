from celery import shared_task


@shared_task
def send_emails() -> int:
    """E-mail the notices not yet e-mailed (idempotent: each notice is claimed once)."""
    from notifications.services import send_pending_emails

    return send_pending_emails()
