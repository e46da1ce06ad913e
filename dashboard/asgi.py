"""ASGI entry point: HTTP through Django, websockets through Channels (login + origin checked)."""

import gc
import os

import django
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")


class DashboardASGIHandler(ASGIHandler):
    """Streamed downloads (container export, image save) go out in 1 MiB ASGI messages instead of
    Django's 64 KiB: through daphne that more than doubles the rate (bench/bench_containers.py)."""

    chunk_size = 1 << 20


django.setup(set_prefix=False)
django_asgi_app = DashboardASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from core.endpoints import EndpointWebsocketMiddleware  # noqa: E402
from core.live.transport import WriteBackpressure  # noqa: E402
from core.logsafe import install_access_log_redaction  # noqa: E402
from core.routing import routed_urlpatterns  # noqa: E402
from core.wsguard import BearerTokenMiddleware, SameOriginValidator  # noqa: E402

# daphne builds its access logger after importing this module: no credentials, no control characters.
install_access_log_redaction()

application = ProtocolTypeRouter(
    {
        # Streamed downloads wait for the client instead of piling up in daphne's buffers.
        "http": WriteBackpressure(django_asgi_app),
        # Same scheme://host:port as the Host header (not only the host name), no credentials in the URL;
        # a script may instead send Authorization: Bearer <API token> (no Origin: not a browser).
        "websocket": SameOriginValidator(
            AuthMiddlewareStack(
                BearerTokenMiddleware(EndpointWebsocketMiddleware(URLRouter(routed_urlpatterns)))
            )
        ),
    }
)

# Everything imported and built so far lives as long as the process: out of the collector's sight,
# a full collection (core/live/memory.py runs one after a stream ends) walks only what came later.
gc.freeze()
