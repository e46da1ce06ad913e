"""Settings for the Docker dashboard, read from the environment (see .env.example)."""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


# The spellings a boolean variable may take (any case); anything else stops the start-up, so that a
# typo such as HTTPS=ture cannot silently turn secure cookies off.
TRUE_SPELLINGS = frozenset({"1", "true", "yes", "on"})
FALSE_SPELLINGS = frozenset({"0", "false", "no", "off"})


def parse_bool(name: str, value: str | None, default: bool) -> bool:
    """The boolean an environment value spells: 1/true/yes/on or 0/false/no/off; unset or empty = default."""
    if value is None or value.strip() == "":
        return default
    spelled = value.strip().lower()
    if spelled in TRUE_SPELLINGS:
        return True
    if spelled in FALSE_SPELLINGS:
        return False
    raise ImproperlyConfigured(
        f"Unexpected value {name}={value!r}: use 1/true/yes/on or 0/false/no/off (or leave it unset)."
    )


def parse_number(name: str, value: str | None, default: float, kind: type = int) -> float:
    """An int (or float) environment value; a value that is not one stops the start-up."""
    if value is None or value.strip() == "":
        return kind(default)
    try:
        return kind(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"Unexpected value {name}={value!r}: expected {kind.__name__}.") from None


def env_bool(name: str, default: bool = False) -> bool:
    return parse_bool(name, os.environ.get(name), default)


def env_int(name: str, default: int) -> int:
    return parse_number(name, os.environ.get(name), default, int)


def env_float(name: str, default: float) -> float:
    return parse_number(name, os.environ.get(name), default, float)


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def read_secret(name: str) -> str | None:
    """Value of NAME, or the content of the file named by NAME_FILE (docker/compose secrets)."""
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path} cannot be read: {exc}") from exc
    return None


DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "data"))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret_key() -> str:
    """A key generated once for a local run and kept in the data dir (mode 0600)."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = read_secret("SECRET_KEY") or _local_secret_key()
DEBUG = env_bool("DEBUG")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1")
if "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS='*' is refused: this dashboard drives a Docker engine (root on its host), "
        "so it must only answer to the host names you serve it under. "
        "Set ALLOWED_HOSTS to a comma-separated list, e.g. ALLOWED_HOSTS=docker.example.com."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# The Docker engine this dashboard drives.
DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
DOCKER_TIMEOUT = env_float("DOCKER_TIMEOUT", 30)
# The only variables the compose CLI inherits (core/engine/compose.py): what it needs to find its
# plugins, ~/.docker credentials and ssh. Never the dashboard's own (SECRET_KEY ...): a compose file
# could interpolate them.
COMPOSE_INHERITED_ENV = {
    name: os.environ[name]
    for name in ("PATH", "HOME", "LANG", "LC_ALL", "SSH_AUTH_SOCK")
    if name in os.environ
}
# The image of the never-started helper container that reads a volume's files. Empty: the
# dashboard's own image of one empty folder (made on the engine when first needed, no pull).
VOLUME_HELPER_IMAGE = os.environ.get("VOLUME_HELPER_IMAGE", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "template_partials",
    "ninja",
    "core",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # `/e/<slug>/...` addresses another Docker endpoint with the same routes.
    "core.endpoints.EndpointMiddleware",
    # Every view needs a login unless it is explicitly marked @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # A one-time password (first admin, users an admin created) must be changed before anything else.
    "core.middleware.PasswordChangeRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.middleware.SecurityHeadersMiddleware",
    "core.middleware.ErrorMiddleware",
    "core.middleware.HtmxMessagesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"
ASGI_APPLICATION = "dashboard.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.dashboard",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        read_secret("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        # Kept open between requests: a request's thread is kept too (core/request_threads.py), so
        # its connection is reused instead of reopened (SQLite re-reads its schema at every open;
        # ~1-1.5 ms of daphne CPU per page, bench/profile_page.py). At most one per kept thread.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # One test database file per test process, so a live daphne subprocess can share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")}

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 reads with a 5 s socket timeout by default, shorter than channels-redis's
            # blocking receive: every websocket idle for 5 s died with 1011 (channels_redis#422).
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Caches. "updates" holds the image update checks' registry answers (core/updates.py): on Redis when
# REDIS_URL is set, so every server process shares one HEAD per reference per TTL; else per process.
# "default" stays local memory (the API token throttle's windows: per process, as documented there).
UPDATE_CACHE_ENTRIES = 5000
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "default"},
    "updates": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "updates",
        "OPTIONS": {"MAX_ENTRIES": UPDATE_CACHE_ENTRIES},
    },
}
if REDIS_URL:
    CACHES["updates"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "dashboard-updates",
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login throttling (core/throttle.py): failures slow down the (username, address) pair that made
# them with doubling waits; wider counts per username and per address spare the user's known addresses.
AUTHENTICATION_BACKENDS = ["core.throttle.ThrottledModelBackend"]
LOGIN_THROTTLE_WINDOW_SECONDS = env_int("LOGIN_THROTTLE_WINDOW_SECONDS", 900)
LOGIN_THROTTLE_SLOW_AFTER = env_int("LOGIN_THROTTLE_SLOW_AFTER", 3)
LOGIN_THROTTLE_USER_SLOW_AFTER = env_int("LOGIN_THROTTLE_USER_SLOW_AFTER", 10)
LOGIN_THROTTLE_ADDRESS_SLOW_AFTER = env_int("LOGIN_THROTTLE_ADDRESS_SLOW_AFTER", 10)
LOGIN_THROTTLE_DELAY_SECONDS = env_float("LOGIN_THROTTLE_DELAY_SECONDS", 1)
LOGIN_THROTTLE_MAX_DELAY_SECONDS = env_float("LOGIN_THROTTLE_MAX_DELAY_SECONDS", 300)
LOGIN_KNOWN_ADDRESS_DAYS = env_int("LOGIN_KNOWN_ADDRESS_DAYS", 30)
LOGIN_ATTACK_AFTER = env_int("LOGIN_ATTACK_AFTER", 30)

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Served by whitenoise from the collected, hashed files (the run command collects them). Before any
# collectstatic (a checkout running tests, DEBUG) they are served straight from static/.
WHITENOISE_USE_FINDERS = (
    DEBUG or env_bool("WHITENOISE_USE_FINDERS") or not (STATIC_ROOT / "staticfiles.json").exists()
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if WHITENOISE_USE_FINDERS
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Uploads (image load/import, build contexts) stream to a temp file past this size, never to memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Security: cookies and headers. HTTPS=1 when served behind TLS (turns on secure cookies and HSTS).
HTTPS = env_bool("HTTPS")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("TRUST_X_FORWARDED_PROTO"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(f"Unexpected value LOG_LEVEL={LOG_LEVEL!r}: use DEBUG, INFO, WARNING, ERROR.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line goes through SafeFormatter: control characters in messages and arguments are escaped,
    # so text from outside (a username, a ref) cannot start a forged line (core/logsafe.py).
    "formatters": {
        "plain": {
            "()": "core.logsafe.SafeFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}

# Key for secrets stored encrypted in the database (Fernet, urlsafe base64 of 32 bytes).
# Unset: derived from SECRET_KEY (so rotating SECRET_KEY needs the secrets re-entered).
FIELD_ENCRYPTION_KEY = read_secret("FIELD_ENCRYPTION_KEY") or ""

# A registry linked from the environment (compose's `registry` service), created at start-up.
REGISTRY_URL = os.environ.get("REGISTRY_URL", "")
REGISTRY_NAME = os.environ.get("REGISTRY_NAME", "default")
REGISTRY_USERNAME = read_secret("REGISTRY_USERNAME") or ""
REGISTRY_PASSWORD = read_secret("REGISTRY_PASSWORD") or ""
REGISTRY_TIMEOUT = env_float("REGISTRY_TIMEOUT", 15)
# The most names (repositories, or one repository's tags) a registry page reads through the
# registry's own paging before filtering, sorting and paging them here; it says when there are more.
REGISTRY_LIST_MAX = env_int("REGISTRY_LIST_MAX", 10_000)

# Exec/attach session recordings (asciicast v2) and how long they are kept.
RECORDINGS_DIR = Path(os.environ.get("RECORDINGS_DIR", DATA_DIR / "recordings"))
RECORDINGS_RETENTION_DAYS = env_int("RECORDINGS_RETENTION_DAYS", 90)

# The first admin `manage.py bootstrap` (make run) creates; without a password one is generated,
# printed once, and must be changed at the first login.
FIRST_ADMIN_USERNAME = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
FIRST_ADMIN_PASSWORD = read_secret("DJANGO_SUPERUSER_PASSWORD") or ""
# The port the run command serves on (named in the first-run message).
PORT = env_int("PORT", 8000)

# Live log and terminal streams one user may hold open per process.
LIVE_STREAMS_PER_USER = env_int("LIVE_STREAMS_PER_USER", 25)

# Exec terminals: input bounds (a frame over the size closes with 4009, a flood over the rates with
# 4008), the recording size cap, and whether a session's processes are found in this host's /proc
# (False: always through a helper exec in the container).
EXEC_INPUT_FRAME_BYTES = env_int("EXEC_INPUT_FRAME_BYTES", 65536)
EXEC_INPUT_BYTES_PER_SECOND = env_int("EXEC_INPUT_BYTES_PER_SECOND", 1048576)
EXEC_INPUT_FRAMES_PER_SECOND = env_int("EXEC_INPUT_FRAMES_PER_SECOND", 1000)
RECORDING_MAX_BYTES = env_int("RECORDING_MAX_BYTES", 64 * 1024 * 1024)
EXEC_SWEEP_LOCAL = env_bool("EXEC_SWEEP_LOCAL", True)
# Jobs (pull, push, build): a running job whose heartbeat is older than this is shown interrupted.
JOB_STALE_SECONDS = env_int("JOB_STALE_SECONDS", 30)
# Image update checks: how long a registry's answer for one reference is reused (one HEAD per
# reference per TTL), and how long a failed check is (so an unreachable registry is not hammered).
UPDATE_CHECK_TTL = env_int("UPDATE_CHECK_TTL", 3600)
UPDATE_CHECK_FAILURE_TTL = env_int("UPDATE_CHECK_FAILURE_TTL", 120)
# Ask registries that are not linked (anonymously, public addresses only), Docker Hub included.
UPDATE_CHECK_UNLINKED = env_bool("UPDATE_CHECK_UNLINKED", True)
# Engine log streams one process may hold open (viewers of one container share one).
LIVE_ENGINE_STREAMS = env_int("LIVE_ENGINE_STREAMS", 200)
# Bytes a websocket may hold unsent before droppable frames (log lines) are skipped, and how long a
# viewer may stay over it before the socket is closed.
LIVE_SEND_BUFFER = env_int("LIVE_SEND_BUFFER", 1024 * 1024)
LIVE_STALL_SECONDS = env_float("LIVE_STALL_SECONDS", 30)
# Every open websocket: a heartbeat frame, and the session/role re-checked (logout, password change,
# expiry, role cap) at least this often.
LIVE_HEARTBEAT_SECONDS = env_float("LIVE_HEARTBEAT_SECONDS", 10)
LIVE_SESSION_CHECK_SECONDS = env_float("LIVE_SESSION_CHECK_SECONDS", 20)
# A followed log silent this long makes the server ask the engine whether it is still there.
LIVE_ENGINE_PROBE_SECONDS = env_float("LIVE_ENGINE_PROBE_SECONDS", 8)

# JSON API (core/api/): requests one token may make per window (seconds); over it: 429 + Retry-After.
# Counted in the cache (per process unless the cache is shared).
API_RATE_LIMIT = env_int("API_RATE_LIMIT", 600)
API_RATE_WINDOW = env_int("API_RATE_WINDOW", 60)
if API_RATE_LIMIT < 1 or API_RATE_WINDOW < 1:
    raise ImproperlyConfigured("API_RATE_LIMIT and API_RATE_WINDOW must be at least 1.")
