"""Encryption at rest for secrets the app stores (registry passwords, TLS keys).

The key comes from settings (FIELD_ENCRYPTION_KEY, or derived from SECRET_KEY), never from the
database, so a stolen database alone does not reveal the secrets.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    configured = getattr(settings, "FIELD_ENCRYPTION_KEY", "")
    if configured:
        return Fernet(configured.encode())
    digest = hashlib.sha256(b"docker-dashboard field encryption\x00" + settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(digest.digest()))


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode() if plaintext else ""


def decrypt(token: str) -> str:
    """Decrypt ``token``; an empty token or one made with another key gives ``""``."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return ""
