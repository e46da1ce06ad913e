"""Page routes: each resource module keeps its own ``urlpatterns``, joined here."""

from django.urls import include, path

from core.views import (
    container_edit,
    containers,
    endpoints,
    images,
    logs,
    overview,
    registries,
    swarm,
    team,
    updates,
)

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("", include(images.urlpatterns)),
    path("", include(container_edit.urlpatterns)),
    path("", include(containers.urlpatterns)),
    path("", include(updates.urlpatterns)),
    path("", include(logs.urlpatterns)),
    path("", include(registries.urlpatterns)),
    path("", include(team.urlpatterns)),
    path("", include(swarm.urlpatterns)),
    path("", include(endpoints.urlpatterns)),
]
