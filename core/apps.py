from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Docker dashboard"

    def ready(self) -> None:
        from core import converters, signals  # noqa: F401  (signals: login/logout auditing, session revocation)

        converters.register()
