"""The JSON API: django-ninja operations over the same engine code, roles and audit as the pages.

Served at ``/api/`` (and ``/e/<slug>/api/`` for other endpoints), schema at ``/api/openapi.json``,
interactive docs at ``/api/docs`` (Swagger UI vendored under static/vendor/swagger-ui).
"""

from __future__ import annotations

from ninja import NinjaAPI, Swagger

from core.api import containers, images, misc, problems, resources
from core.api.auth import BearerToken


class DashboardAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                for status, title in ((401, "Unauthorized"), (403, "Forbidden"), (404, "Not found"),
                                      (409, "Conflict"), (422, "Unprocessable content"), (429, "Too many requests"),
                                      (503, "Engine unavailable")):
                    responses.setdefault(str(status), {
                        "description": title,
                        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                    })
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = {
            "type": "object",
            "properties": {k: {"type": "string"} for k in ("type", "title", "detail", "instance")}
            | {"status": {"type": "integer"}},
            "required": ["title", "status", "detail"],
        }
        return schema


api = DashboardAPI(
    title="Docker dashboard API",
    version="1",
    description="Everything the pages do, for scripts: authenticate with `Authorization: Bearer dkd_…` "
    "(make a token at /account/tokens/). Other endpoints: the same paths under /e/<slug>/api/.",
    auth=BearerToken(),
    urls_namespace="api",
    docs=Swagger(settings={"persistAuthorization": False, "tryItOutEnabled": True}),
    docs_url="/docs",
    openapi_url="/openapi.json",
)
problems.install(api)
api.add_router("/containers/", containers.router)
api.add_router("/images/", images.router)
api.add_router("/volumes/", resources.volumes)
api.add_router("/networks/", resources.networks)
api.add_router("/registries/", misc.registries)
api.add_router("/jobs/", misc.jobs)
api.add_router("/audit/", misc.audit_router)
api.add_router("/overview/", misc.overview)
