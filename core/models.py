"""What the app owns: audit events and linked registries (endpoints and recordings come later)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from core import crypto


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit events are append-only")

    def delete(self):
        raise AppendOnlyError("audit events are append-only")


class AuditEvent(models.Model):
    """One thing somebody did, or tried to do, that changes state (append-only)."""

    class Outcome(models.TextChoices):
        OK = "ok", "ok"
        FAILED = "failed", "failed"
        DENIED = "denied", "denied"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text too, so the trail survives a user being deleted or renamed.
    username = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=16, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=512, blank=True, db_index=True)
    parameters = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, db_index=True)
    message = models.TextField(blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    endpoint = models.CharField(max_length=64, blank=True)
    # Set when an API token acted (core/api/): which one, kept as text so the trail outlives it.
    token_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    token_name = models.CharField(max_length=100, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["username", "-created_at"])]

    def __str__(self) -> str:
        when = f"{self.created_at:%Y-%m-%d %H:%M:%S}"
        return f"{when} {self.username} {self.action} {self.target} {self.outcome}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events are append-only")


class Registry(models.Model):
    """A linked private registry (Registry HTTP API v2). Secrets are stored encrypted."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField("base URL", max_length=300, help_text="e.g. https://registry.example.com:5000")
    username = models.CharField(max_length=150, blank=True)
    secret_encrypted = models.TextField(blank=True, editable=False)
    verify_tls = models.BooleanField("verify TLS", default=True)
    ca_bundle = models.TextField("CA bundle (PEM)", blank=True)
    # Token realms on another host get credentials only when listed here (ContainerDrip).
    allowed_token_hosts = models.CharField(max_length=500, blank=True)
    # SSRF policy (core/registry.py AddressPolicy): loopback/private addresses only when an admin says so.
    allow_private_addresses = models.BooleanField(
        "allow private addresses",
        default=False,
        help_text="Allow loopback and private network addresses (127.0.0.0/8, 10.0.0.0/8, 192.168.0.0/16, "
        "...) for this registry. Link-local and metadata addresses (169.254.0.0/16 ...) are always refused.",
    )
    from_environment = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "registries"

    def __str__(self) -> str:
        return self.name

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = crypto.encrypt(value)

    @property
    def host(self) -> str:
        """host[:port] as Docker names it in image references."""
        from urllib.parse import urlsplit

        return urlsplit(self.url).netloc

    def auth_config(self) -> dict[str, str] | None:
        """Credentials in the shape the engine's pull/push take, or None for anonymous."""
        if not self.username:
            return None
        return {"username": self.username, "password": self.secret, "serveraddress": self.host}


class Recording(models.Model):
    """An exec/attach terminal session recorded as asciicast v2 (output with timing, plus input)."""

    audit_event = models.OneToOneField(AuditEvent, on_delete=models.PROTECT, related_name="recording")
    path = models.CharField(max_length=500)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    size = models.BigIntegerField(default=0)
    width = models.PositiveIntegerField(default=80)
    height = models.PositiveIntegerField(default=24)
    command = models.CharField(max_length=500, blank=True)
    truncated = models.BooleanField(default=False)  # stopped at RECORDING_MAX_BYTES

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"recording of {self.audit_event.action} {self.audit_event.target}"


# The default endpoint (settings.DOCKER_HOST) is created with this slug and cannot be edited, so a
# request on a plain route knows its endpoint without a database query.
DEFAULT_SLUG = "local"


class EndpointQuerySet(models.QuerySet):
    def default(self) -> Endpoint:
        """The endpoint for settings.DOCKER_HOST, created on first use."""
        endpoint = self.filter(is_default=True).first()
        if endpoint is None:
            endpoint, _ = self.get_or_create(
                slug=DEFAULT_SLUG,
                defaults={"name": DEFAULT_SLUG, "is_default": True, "url": settings.DOCKER_HOST},
            )
        return endpoint


class Endpoint(models.Model):
    """A Docker engine the dashboard drives: unix socket, tcp+TLS (client cert) or ssh."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    url = models.CharField(
        max_length=300, help_text="unix:///var/run/docker.sock, tcp://host:2376 (with TLS) or ssh://user@host"
    )
    tls_ca = models.TextField("CA certificate (PEM)", blank=True)
    tls_cert = models.TextField("client certificate (PEM)", blank=True)
    tls_key_encrypted = models.TextField(blank=True, editable=False)
    is_default = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EndpointQuerySet.as_manager()

    class Meta:
        ordering = ["-is_default", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tls_key(self) -> str:
        return crypto.decrypt(self.tls_key_encrypted)

    @tls_key.setter
    def tls_key(self, value: str) -> None:
        self.tls_key_encrypted = crypto.encrypt(value)

    @property
    def effective_url(self) -> str:
        """The default endpoint always follows settings.DOCKER_HOST."""
        return settings.DOCKER_HOST if self.is_default else self.url

    def ref(self):
        from core.engine import EndpointRef

        return EndpointRef(
            slug=self.slug,
            name=self.name,
            url=self.effective_url,
            is_default=self.is_default,
            tls_ca=self.tls_ca,
            tls_cert=self.tls_cert,
            tls_key=self.tls_key if self.tls_cert else "",
        )


class EndpointAccess(models.Model):
    """Limits a user's role on one endpoint (e.g. operator everywhere, viewer on production)."""

    ROLE_CHOICES = [("viewer", "viewer"), ("operator", "operator"), ("admin", "admin")]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="endpoint_access"
    )
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="access")
    role = models.CharField(max_length=16, choices=ROLE_CHOICES)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "endpoint"], name="one_limit_per_user_endpoint")
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.endpoint}: at most {self.role}"


class ExecSession(models.Model):
    """One exec terminal session, kept until every process it started is known to be gone.

    ``open`` while it runs; ``ended`` once swept; ``pending`` when the sweep could not reach the
    engine (outage): a sweeper retries until the engine answers (core/exec_sessions.py).
    """

    class State(models.TextChoices):
        OPEN = "open"
        PENDING = "pending", "sweep pending"
        ENDED = "ended"

    token = models.CharField(max_length=64, unique=True)
    exec_id = models.CharField(max_length=128, blank=True)
    container_id = models.CharField(max_length=128)
    endpoint = models.CharField(max_length=50, blank=True)
    username = models.CharField(max_length=150, blank=True)
    local = models.BooleanField(null=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN, db_index=True)
    process = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"exec {self.exec_id[:12]} in {self.container_id[:12]} ({self.state})"


class Job(models.Model):
    """A long engine action (pull, push, build, ...) that any server process can show and follow.

    The process running it saves a progress snapshot (throttled) and a heartbeat; a running job
    whose heartbeat is stale belonged to a process that died and is shown as ``interrupted``.
    """

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCESS = "success"
        ERROR = "error"
        INTERRUPTED = "interrupted"

    id = models.CharField(primary_key=True, max_length=32)
    kind = models.CharField(max_length=32)
    target = models.CharField(max_length=512)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING, db_index=True)
    message = models.TextField(blank=True)
    result = models.CharField(max_length=200, blank=True)
    progress = models.JSONField(default=dict, blank=True)
    required_role = models.CharField(max_length=16)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, blank=True)
    endpoint = models.CharField(max_length=50, blank=True)
    process = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.target} ({self.status})"


class Account(models.Model):
    """What the app keeps about a user beyond Django's auth user (created on demand)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="account"
    )
    # A one-time password (the first admin's printed one, or one an admin handed out) was set: every
    # page leads to the password-change page and websockets are refused until the user picks their own.
    must_change_password = models.BooleanField(default=False)

    class Theme(models.TextChoices):
        SYSTEM = "system", "System"
        LIGHT = "light", "Light"
        DARK = "dark", "Dark"

    # The colour theme the user picked (base.html's data-theme; static/js/theme.js mirrors it in
    # localStorage so the login page and the first paint of every page use it too).
    theme = models.CharField(max_length=6, choices=Theme.choices, default=Theme.SYSTEM)

    def __str__(self) -> str:
        return f"account of user {self.user_id}"


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> ApiTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True, user__is_active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A person's token for the JSON API: only a SHA-256 of the secret is kept (core/tokens.py).

    ``role`` caps what the token may do; the owner's own (per-endpoint) role caps it again at every
    request, so a token can never do more than the person who made it can do now.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16)
    prefix = models.CharField(max_length=16, db_index=True)  # "dkd_" + 8 characters: shown, searchable
    digest = models.CharField(max_length=64, unique=True)  # sha256 hex of the whole secret
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_address = models.GenericIPAddressField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expired:
            return "expired"
        if not self.user.is_active:
            return "owner deactivated"
        return "active"


class Stack(models.Model):
    """A compose project the dashboard manages on one endpoint (its versions hold the files).

    Projects started outside the dashboard are stacks too (found from container labels); they get a
    row when an admin imports their file or somebody edits them here.
    """

    class Mode(models.TextChoices):
        COMPOSE = "compose", "compose project"
        SWARM = "swarm", "swarm stack"

    endpoint = models.CharField(max_length=50)
    name = models.CharField(max_length=63)
    # How its versions are deployed: ``compose up`` or ``docker stack deploy`` (a swarm manager's).
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.COMPOSE)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "name"], name="one_stack_per_endpoint_name")
        ]

    def __str__(self) -> str:
        return f"stack {self.name} on {self.endpoint or 'default'}"

    @property
    def running_version(self) -> StackVersion | None:
        """The last version whose deploy succeeded (what runs, unless changed outside the dashboard)."""
        return self.versions.filter(status=StackVersion.Status.DEPLOYED).order_by("-number").first()


class StackVersion(models.Model):
    """One deploy of a stack: its compose file and ``.env`` (encrypted at rest), who, when, result."""

    class Status(models.TextChoices):
        RUNNING = "running", "deploying"
        DEPLOYED = "deployed"
        FAILED = "failed"

    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    compose = models.TextField()
    env_encrypted = models.TextField(blank=True, editable=False)
    origin = models.CharField(max_length=16)  # new, edit, rollback, import
    rolled_back_from = models.PositiveIntegerField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    message = models.TextField(blank=True)
    job_id = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["stack", "number"], name="one_number_per_stack_version")
        ]

    def __str__(self) -> str:
        return f"{self.stack.name} v{self.number} ({self.status})"

    @property
    def env(self) -> str:
        return crypto.decrypt(self.env_encrypted)

    @env.setter
    def env(self, value: str) -> None:
        self.env_encrypted = crypto.encrypt(value)
