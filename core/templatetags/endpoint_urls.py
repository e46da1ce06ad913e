"""``{% endpoint_url endpoint %}``: the overview (or ``name``) of ANOTHER endpoint, for the endpoint
switcher and the endpoints lists. Links within the current endpoint are plain ``{% url %}``."""

from django import template

from core.endpoints import reverse_on

register = template.Library()


@register.simple_tag(takes_context=True)
def endpoint_url(context: template.Context, endpoint, name: str = "overview") -> str:
    """The path of page ``name`` on ``endpoint`` (an Endpoint row or an EndpointRef)."""
    return reverse_on(context.request, endpoint, name)
