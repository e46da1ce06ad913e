"""``manage.py create_token <username> --name N --role R --expires-days D``: print a new API token."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core import audit, tokens
from core.roles import ROLE_GROUPS, Role, role_of


class Command(BaseCommand):
    help = "Make an API token for a user and print it (for provisioning)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", required=True)
        parser.add_argument("--role", choices=sorted(ROLE_GROUPS), default="viewer")
        parser.add_argument(
            "--expires-days",
            default=str(tokens.DEFAULT_EXPIRES_DAYS),
            help=f"1-{tokens.MAX_EXPIRES_DAYS}, or 'never' (admins only)",
        )

    def handle(self, *args, username: str, name: str, role: str, expires_days: str, **options) -> None:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}.")
        owner_role = role_of(user)
        wanted = ROLE_GROUPS[role]
        if owner_role is None or wanted > owner_role:
            raise CommandError(
                f"{username} has the role {owner_role.label if owner_role else 'none'}: "
                f"a token cannot have more ({role})."
            )
        if expires_days == "never":
            if owner_role < Role.ADMIN:
                raise CommandError("Only admins' tokens may never expire.")
            days = None
        elif expires_days.isdigit() and 1 <= int(expires_days) <= tokens.MAX_EXPIRES_DAYS:
            days = int(expires_days)
        else:
            raise CommandError(f"--expires-days takes 1-{tokens.MAX_EXPIRES_DAYS} or 'never'.")
        created = tokens.create(user, name=name, role=wanted, expires_days=days)
        audit.record(
            user,
            "token.create",
            target=f"{name} ({created.token.prefix})",
            parameters={"role": role, "expires_days": days, "via": "manage.py create_token"},
        )
        self.stdout.write(created.secret)
