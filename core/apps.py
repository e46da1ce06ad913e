from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Docker dashboard"

    def ready(self) -> None:
        # signals: login/logout auditing, session revocation; updates: re-checks a reference after a pull
        from core import converters, signals, updates  # noqa: F401

        converters.register()
