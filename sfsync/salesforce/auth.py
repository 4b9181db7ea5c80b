"""The five ways to get a session: OAuth password, JWT bearer, client credentials, refresh token, and a
given access token.

:class:`Authenticator` builds the token request for the configured flow and reads the answer into a
:class:`Session`; the transport sends the request (with its retries) and classifies failures. Nothing here
logs, and no repr shows a secret.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from pydantic import SecretStr

from sfsync.errors import AuthError, ConfigError
from sfsync.salesforce.settings import ConnectionSettings

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PATH = "/services/oauth2/token"


@dataclass(frozen=True)
class Session:
    """A live session: the bearer token and where the org's API lives."""

    access_token: SecretStr = field(repr=False)
    instance_url: str
    identity_url: str | None = None
    issued_at: float = field(default_factory=time.time)

    @property
    def org_id(self) -> str | None:
        """Organization id, from the identity URL ``…/id/{orgId}/{userId}``."""
        parts = (self.identity_url or "").rstrip("/").split("/")
        return parts[-2] if len(parts) >= 2 and self.identity_url else None

    @property
    def user_id(self) -> str | None:
        parts = (self.identity_url or "").rstrip("/").split("/")
        return parts[-1] if self.identity_url else None

    def authorization(self) -> str:
        return f"Bearer {self.access_token.get_secret_value()}"


@dataclass(frozen=True)
class TokenRequest:
    """A form POST to the OAuth token endpoint. ``form`` holds secrets: it is hidden from repr."""

    url: str
    form: Mapping[str, str] = field(repr=False)
    grant_type: str = ""


class Authenticator:
    """Knows how the configured flow logs in, and whether it can log in again after a session expires."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self._settings = settings

    def __repr__(self) -> str:
        return f"Authenticator(flow={self.flow!r}, login_url={self._settings.login_url!r})"

    @property
    def flow(self) -> str:
        return self._settings.flow

    @property
    def can_refresh(self) -> bool:
        """False for the access_token flow: a given token cannot be renewed by sfsync."""
        return self._settings.flow != "access_token"

    @property
    def token_url(self) -> str:
        return self._settings.login_url + TOKEN_PATH

    def static_session(self) -> Session:
        """The session of the access_token flow (no call is made)."""
        s = self._settings
        if s.access_token is None or s.instance_url is None:
            raise ConfigError(
                "the access_token flow needs 'access_token' and 'instance_url'",
                hint="set both in the destination, or choose another auth flow",
            )
        return Session(access_token=s.access_token, instance_url=s.instance_url)

    def token_request(self, *, refresh_token: str | None = None) -> TokenRequest:
        """The token request of the configured flow (a fresh JWT assertion each time); ``refresh_token``
        replaces the configured one (the newest of a rotating chain)."""
        s = self._settings
        secret = _secret
        if s.flow == "password":
            password = secret(s.password) + secret(s.security_token)
            form = {
                "grant_type": "password",
                "client_id": s.client_id or "",
                "client_secret": secret(s.client_secret),
                "username": s.username or "",
                "password": password,
            }
        elif s.flow == "client_credentials":
            form = {
                "grant_type": "client_credentials",
                "client_id": s.client_id or "",
                "client_secret": secret(s.client_secret),
            }
        elif s.flow == "refresh_token":
            form = {
                "grant_type": "refresh_token",
                "client_id": s.client_id or "",
                "refresh_token": refresh_token or secret(s.refresh_token),
            }
            if s.client_secret is not None:
                form["client_secret"] = secret(s.client_secret)
        elif s.flow == "jwt":
            form = {"grant_type": JWT_GRANT, "assertion": self.jwt_assertion()}
        else:
            raise ConfigError(f"the {s.flow} flow does not log in through the token endpoint")
        return TokenRequest(url=self.token_url, form=form, grant_type=form["grant_type"])

    def jwt_assertion(self, now: float | None = None) -> str:
        """An RS256 JWT: iss = client_id, sub = username, aud = login URL (or jwt_audience), exp."""
        s = self._settings
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": s.client_id,
            "sub": s.username,
            "aud": s.jwt_audience or s.login_url,
            "exp": issued + s.jwt_lifetime_seconds,
        }
        key = self._private_key()
        try:
            return jwt.encode(claims, key, algorithm="RS256")
        except Exception:  # the key text must not reach the message: no chaining
            where = f"private_key_file {str(s.private_key_file)!r}" if s.private_key_file else "private_key"
            raise ConfigError(
                f"{where} is not a usable RSA private key for signing the JWT assertion",
                hint="give the PEM of an RSA private key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY), "
                "unencrypted, whose certificate is uploaded to the connected app",
            ) from None

    def _private_key(self) -> str:
        s = self._settings
        if s.private_key is not None:
            return s.private_key.get_secret_value()
        if s.private_key_file is None:
            raise ConfigError(
                "the jwt flow needs 'private_key' (PEM) or 'private_key_file'",
                hint="point private_key_file at the connected app's private key",
            )
        try:
            return s.private_key_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read private_key_file {str(s.private_key_file)!r}: {exc.strerror}",
                hint="check the path and its permissions",
            ) from None

    def session_from(self, body: Any) -> Session:
        """Read a successful token answer."""
        if not isinstance(body, Mapping) or not body.get("access_token") or not body.get("instance_url"):
            raise AuthError(
                f"the token endpoint {self.token_url} answered without access_token/instance_url",
                hint="check login_url: it must be the Salesforce login host or your My Domain URL",
            )
        issued = body.get("issued_at")
        try:
            issued_at = int(issued) / 1000.0 if issued is not None else time.time()
        except (TypeError, ValueError):
            issued_at = time.time()
        return Session(
            access_token=SecretStr(str(body["access_token"])),
            instance_url=str(body["instance_url"]).rstrip("/"),
            identity_url=str(body["id"]) if body.get("id") else None,
            issued_at=issued_at,
        )


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


__all__ = ["JWT_GRANT", "TOKEN_PATH", "Authenticator", "Session", "TokenRequest"]
