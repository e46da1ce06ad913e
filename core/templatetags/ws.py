"""``{% ws_url 'ws-overview' %}``: the one way a template names a websocket (rendered into a
``data-ws`` attribute that static/js reads)."""

from django import template

from core.routing import ws_path

register = template.Library()


@register.simple_tag
def ws_url(name: str, *args: object) -> str:
    """The websocket path of route ``name`` with ``args`` on the current endpoint."""
    return ws_path(name, *args)
