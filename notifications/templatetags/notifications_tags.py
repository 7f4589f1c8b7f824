from django import template

from notifications.services import unread_count

register = template.Library()


@register.inclusion_tag("notifications/_nav_link.html", takes_context=True)
def notifications_link(context):
    user = context.get("user")
    return {"count": unread_count(user)}
