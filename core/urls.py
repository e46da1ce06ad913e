"""Page routes: each resource module keeps its own ``urlpatterns``, joined here."""

from django.urls import include, path

from core.views import (
    account,
    container_edit,
    containers,
    endpoints,
    images,
    jobs,
    logs,
    networks,
    overview,
    registries,
    search,
    stacks,
    swarm,
    team,
    tokens,
    updates,
    volumes,
)

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("", include(jobs.urlpatterns)),
    path("", include(images.urlpatterns)),
    path("", include(container_edit.urlpatterns)),
    path("", include(containers.urlpatterns)),
    path("", include(volumes.urlpatterns)),
    path("", include(networks.urlpatterns)),
    path("", include(updates.urlpatterns)),
    path("", include(logs.urlpatterns)),
    path("", include(registries.urlpatterns)),
    path("", include(team.urlpatterns)),
    path("", include(tokens.urlpatterns)),
    path("", include(swarm.urlpatterns)),
    path("", include(stacks.urlpatterns)),
    path("", include(endpoints.urlpatterns)),
    path("", include(account.urlpatterns)),
    path("", include(search.urlpatterns)),
]
