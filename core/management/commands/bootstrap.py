"""First-run setup for the run command: an admin account, and the registry linked from the env."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from core.accounts import require_password_change
from core.models import Registry
from core.roles import Role, set_role


class Command(BaseCommand):
    help = "Create the first admin (printing its login once) and link REGISTRY_URL if set."

    def handle(self, *args, **options) -> None:
        self.ensure_admin()
        self.link_env_registry()

    def ensure_admin(self) -> None:
        User = get_user_model()
        username = settings.FIRST_ADMIN_USERNAME
        password = settings.FIRST_ADMIN_PASSWORD
        if User.objects.filter(is_superuser=True).exists():
            if password and not User.objects.filter(username=username).exists():
                self.stdout.write(f"An admin exists already; {username!r} was not created.")
            return
        port = settings.PORT
        generated = not password
        password = password or secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, email="", password=password)
        set_role(user, Role.ADMIN)
        if generated:
            require_password_change(user)
        self.stdout.write(self.style.SUCCESS("Created the first admin account."))
        if generated:
            self.stdout.write(
                f"\n  Log in at http://127.0.0.1:{port}/accounts/login/\n"
                f"  username: {username}\n  password: {password}\n\n"
                "  This password is shown once and must be changed at the first login.\n"
            )
        else:
            self.stdout.write(f"  username: {username} (password from DJANGO_SUPERUSER_PASSWORD)")

    def link_env_registry(self) -> None:
        if not settings.REGISTRY_URL:
            return
        registry, created = Registry.objects.update_or_create(
            name=settings.REGISTRY_NAME,
            defaults={
                "url": settings.REGISTRY_URL.rstrip("/"),
                "username": settings.REGISTRY_USERNAME,
                "from_environment": True,
                # The operator who set REGISTRY_URL chose this address (often a compose service).
                "allow_private_addresses": True,
            },
        )
        registry.secret = settings.REGISTRY_PASSWORD
        registry.save()
        verb = "Linked" if created else "Updated"
        self.stdout.write(f"{verb} registry {registry.name!r} at {registry.url} (from REGISTRY_URL).")
