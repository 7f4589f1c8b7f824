from django import template

from accounts import policy

register = template.Library()


@register.simple_tag
def second_factor_required(user) -> bool:
    """Whether ``user``'s roles require a second factor (so they may not remove theirs)."""
    return policy.second_factor_required(user)
