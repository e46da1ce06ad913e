"""Root URLs: auth views, the app, and health."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from core.accounts import LoginForm
from core.views import health

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", health.healthz, name="healthz"),
    path("", include("core.urls")),
]

handler403 = "core.views.health.error_403"
handler404 = "core.views.health.error_404"
handler500 = "core.views.health.error_500"
