"""Logging in: the OAuth 2.0 token endpoint, SOAP login, userinfo and the identity URL.

Token endpoint errors (HTTP 400 ``{"error", "error_description"}``):

==========================  =========================================================================
``unsupported_grant_type``  missing or unknown ``grant_type``
``invalid_request``         a required parameter is missing
``invalid_client_id``       unknown ``client_id`` (or JWT ``iss``)
``invalid_client``          wrong ``client_secret``
``invalid_grant``           wrong username/password/token (``authentication failure``), unknown
                            refresh token (``expired access/refresh token``), bad JWT signature or
                            claims (``invalid assertion``, ``expired authorization code``,
                            ``Audience validation failed``), client-credentials app without a run-as
                            user (``no client credentials user enabled``)
``inactive_user``           the user is deactivated
==========================  =========================================================================

Only the refresh-token grant of an app with ``rotate_refresh_tokens`` answers a new ``refresh_token``
(real orgs issue none for the password, JWT and client-credentials grants); concurrent refreshes with one
token and rotated-out tokens are refused (``sessions.RefreshTokens``). Faults: ``login_error_rate``
answers ``unknown_error`` ("retry your request"), ``token_delay_seconds`` slows every token request.
JWT bearer assertions are verified with PyJWT (RS256) against the connected app's ``certificate_pem``;
``aud`` must be this server's own URL, ``https://login.salesforce.com`` or ``https://test.salesforce.com``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sfsync.emulator.endpoints.sessions import (
    UNKNOWN_REFRESH,
    RefreshTokenError,
    RefreshTokenReused,
    Runtime,
    Session,
)
from sfsync.emulator.endpoints.wire import (
    JSON_TYPE,
    SESSION_MESSAGE,
    XML_TYPE,
    base_url,
    bearer_token,
    error_response,
    json_response,
    parse_version,
)
from sfsync.emulator.metadata.model import AppDef, UserDef

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
JWT_LEEWAY_SECONDS = 5
"""Clock skew tolerated when checking a JWT assertion's ``exp``."""

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER_NS = "urn:partner.soap.sforce.com"
FAULT_NS = "urn:fault.partner.soap.sforce.com"
INVALID_LOGIN_MESSAGE = "Invalid username, password, security token; or user locked out."


class OAuthError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


def oauth_error(e: OAuthError) -> Response:
    return json_response({"error": e.error, "error_description": e.description}, 400)


def check_password(user: UserDef, password: str) -> bool:
    expected = user.password + (user.security_token or "")
    return hmac.compare_digest(password.encode(), expected.encode())


def _require(form: dict[str, str], *names: str) -> None:
    for name in names:
        if not form.get(name):
            raise OAuthError("invalid_request", f"missing required parameter: {name}")


def _app(rt: Runtime, client_id: str, client_secret: str | None, *, secret_required: bool) -> AppDef:
    app = rt.config.app(client_id)
    if app is None:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    if client_secret is None:
        if secret_required:
            raise OAuthError("invalid_client", "invalid client credentials")
    elif not hmac.compare_digest(client_secret.encode(), app.client_secret.encode()):
        raise OAuthError("invalid_client", "invalid client credentials")
    return app


def _active(user: UserDef | None) -> UserDef:
    if user is None:
        raise OAuthError("invalid_grant", "authentication failure")
    if not user.active:
        raise OAuthError("inactive_user", "User is inactive")
    return user


def _basic_auth(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "invalid client credentials") from None
    return client_id, secret


def _refresh(rt: Runtime, app: AppDef, token: str) -> Session:
    """The refresh-token grant; with rotation, the answer carries the chain's next refresh token."""
    try:
        family, chain = rt.refresh_tokens.begin(token)
    except RefreshTokenReused as e:
        rt.sessions.revoke_family(e.family)
        raise OAuthError("invalid_grant", str(e)) from None
    except RefreshTokenError as e:
        raise OAuthError("invalid_grant", str(e)) from None
    session: Session | None = None
    try:
        if chain.client_id != app.client_id:
            raise OAuthError("invalid_grant", UNKNOWN_REFRESH)
        delay = rt.config.faults.token_delay_seconds
        if delay > 0:
            time.sleep(delay)  # the token is claimed meanwhile: a concurrent refresh is refused
        session = rt.sessions.issue(_active(rt.config.user(chain.username)), app.client_id, family)
    finally:
        # the token is released whatever happened; only a success rotates it
        rotate = session is not None and app.rotate_refresh_tokens
        issued = rt.refresh_tokens.end(token, family, rotate=rotate)
    session.refresh_token = issued
    return session


def grant(rt: Runtime, request: Request, form: dict[str, str]) -> Session:
    """Run one token request; the new session (with ``refresh_token`` when rotation issued one), or
    OAuthError."""
    grant_type = form.get("grant_type", "")
    if grant_type == "password":
        _require(form, "client_id", "username", "password")
        app = _app(rt, form["client_id"], form.get("client_secret"), secret_required=True)
        user = rt.config.user(form["username"])
        if user is None or not check_password(user, form["password"]):
            raise OAuthError("invalid_grant", "authentication failure")
        return rt.sessions.issue(_active(user), app.client_id)
    if grant_type == "client_credentials":
        basic = _basic_auth(request)
        client_id, secret = basic if basic else (form.get("client_id", ""), form.get("client_secret"))
        if not client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        app = _app(rt, client_id, secret, secret_required=True)
        if not app.run_as:
            raise OAuthError("invalid_grant", "no client credentials user enabled")
        return rt.sessions.issue(_active(rt.config.user(app.run_as)), app.client_id)
    if grant_type == "refresh_token":
        _require(form, "refresh_token", "client_id")
        app = _app(rt, form["client_id"], form.get("client_secret"), secret_required=False)
        return _refresh(rt, app, form["refresh_token"])
    if grant_type == JWT_GRANT:
        _require(form, "assertion")
        return _jwt_grant(rt, request, form["assertion"])
    raise OAuthError("unsupported_grant_type", "grant type not supported")


def _jwt_grant(rt: Runtime, request: Request, assertion: str) -> Session:
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise OAuthError("invalid_grant", "invalid assertion") from None
    app = rt.config.app(str(claims.get("iss", "")))
    if app is None:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    if not app.certificate_pem:
        raise OAuthError("invalid_grant", "invalid assertion")
    key = x509.load_pem_x509_certificate(app.certificate_pem.encode()).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise OAuthError("invalid_grant", "invalid assertion")
    audiences = [base_url(request), *JWT_AUDIENCES]
    try:
        claims = jwt.decode(
            assertion,
            key,
            algorithms=["RS256"],
            audience=audiences,
            issuer=app.client_id,
            leeway=JWT_LEEWAY_SECONDS,
            options={"require": ["iss", "sub", "aud", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise OAuthError("invalid_grant", "expired authorization code") from None
    except jwt.InvalidAudienceError:
        raise OAuthError("invalid_grant", "Audience validation failed") from None
    except jwt.InvalidTokenError:
        raise OAuthError("invalid_grant", "invalid assertion") from None
    user = rt.config.user(str(claims["sub"]))
    if user is None:
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")
    return rt.sessions.issue(_active(user), app.client_id)


def id_url(base: str, rt: Runtime, user: UserDef) -> str:
    return f"{base}/id/{rt.config.org_id}/{user.id}"


def token_body(rt: Runtime, request: Request, session: Session) -> dict[str, Any]:
    base = base_url(request)
    issued = str(int(session.issued_at * 1000))
    ident = id_url(base, rt, session.user)
    app = rt.config.app(session.client_id or "")
    key = (app.client_secret if app else rt.config.org_id).encode()
    signature = base64.b64encode(hmac.new(key, (ident + issued).encode(), hashlib.sha256).digest()).decode()
    body = {
        "access_token": session.token,
        "instance_url": base,
        "id": ident,
        "token_type": "Bearer",
        "issued_at": issued,
        "signature": signature,
        "scope": "api",
    }
    if session.refresh_token:
        body["refresh_token"] = session.refresh_token
        body["scope"] = "refresh_token api"
    return body


async def token_endpoint(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    form = {k: str(v) for k, v in (await request.form()).items()}
    if rt.dice.roll(rt.config.faults.login_error_rate):
        # what Salesforce sometimes answers (seen in amazon-connect-salesforce-lambda issue #43 and
        # salto-io/salto PR #2834, which retry it): "unknown_error: retry your request"
        return oauth_error(OAuthError("unknown_error", "retry your request"))
    try:
        session = await run_in_threadpool(grant, rt, request, form)
    except OAuthError as e:
        return oauth_error(e)
    return json_response(token_body(rt, request, session))


async def revoke_endpoint(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    form = await request.form()
    token = str(form.get("token") or request.query_params.get("token") or "")
    rt.sessions.revoke(token)
    return Response(status_code=200)


def _session_or_401(request: Request) -> Session | Response:
    rt: Runtime = request.app.state.runtime
    token = bearer_token(request)
    session = rt.sessions.lookup(token) if token else None
    if session is None:
        return error_response(401, "INVALID_SESSION_ID", SESSION_MESSAGE)
    return session


def identity(rt: Runtime, base: str, user: UserDef, version: str = "62.0") -> dict[str, Any]:
    data = f"{base}/services/data/v{{version}}/"
    name = " ".join(p for p in (user.first_name, user.last_name) if p) or user.username
    return {
        "sub": id_url(base, rt, user),
        "user_id": user.id,
        "organization_id": rt.config.org_id,
        "preferred_username": user.username,
        "nickname": user.username.split("@")[0],
        "name": name,
        "email": user.email or user.username,
        "email_verified": True,
        "given_name": user.first_name,
        "family_name": user.last_name or user.username,
        "zoneinfo": user.time_zone,
        "locale": "en_US",
        "language": "en_US",
        "active": user.active,
        "user_type": "STANDARD",
        "is_app_installed": True,
        "utcOffset": 0,
        "updated_at": "2024-01-01T00:00:00Z",
        "urls": {
            "enterprise": f"{base}/services/Soap/c/{{version}}/{rt.config.org_id[:15]}",
            "partner": f"{base}/services/Soap/u/{{version}}/{rt.config.org_id[:15]}",
            "rest": data,
            "sobjects": data + "sobjects/",
            "search": data + "search/",
            "query": data + "query/",
            "recent": data + "recent/",
            "profile": f"{base}/{user.id}",
            "limits": data + "limits/",
            "custom_domain": base,
        },
    }


async def userinfo_endpoint(request: Request) -> Response:
    session = _session_or_401(request)
    if isinstance(session, Response):
        return session
    rt: Runtime = request.app.state.runtime
    return json_response(identity(rt, base_url(request), session.user))


async def id_endpoint(request: Request) -> Response:
    session = _session_or_401(request)
    if isinstance(session, Response):
        return session
    rt: Runtime = request.app.state.runtime
    user = next((u for u in rt.config.users if u.id[:15] == str(request.path_params["user"])[:15]), None)
    if str(request.path_params["org"])[:15] != rt.config.org_id[:15] or user is None:
        return error_response(404, "NOT_FOUND", "Bad_Id")
    body = identity(rt, base_url(request), user)
    body.update(
        {
            "id": body["sub"],
            "asserted_user": user.id == session.user.id,
            "username": user.username,
            "display_name": body["name"],
            "nick_name": body["nickname"],
        }
    )
    return json_response(body)


# ---- SOAP login ---------------------------------------------------------------------------------


def _soap_fault(code: str, message: str, status: int = 500) -> Response:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:sf="{FAULT_NS}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><soapenv:Fault>"
        f"<faultcode>sf:{code}</faultcode><faultstring>{escape(code)}: {escape(message)}</faultstring>"
        '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
        f"<sf:exceptionCode>{escape(code)}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(xml, status_code=status, media_type=XML_TYPE)


def _soap_login_response(rt: Runtime, base: str, version: str, session: Session) -> str:
    user = session.user
    org15 = rt.config.org_id[:15]
    info = {
        "accessibilityMode": "false",
        "chatterExternal": "false",
        "currencySymbol": "$",
        "orgAttachmentFileSizeLimit": "5242880",
        "orgDefaultCurrencyIsoCode": "USD",
        "orgDefaultCurrencyLocale": "en_US",
        "orgDisallowHtmlAttachments": "false",
        "orgHasPersonAccounts": "false",
        "organizationId": rt.config.org_id,
        "organizationMultiCurrency": "false",
        "organizationName": rt.config.org_name,
        "profileId": "00e" + user.id[3:15],
        "roleId": "",
        "sessionSecondsValid": str(rt.config.faults.session_seconds),
        "userDefaultCurrencyIsoCode": "",
        "userEmail": user.email or user.username,
        "userFullName": " ".join(p for p in (user.first_name, user.last_name) if p) or user.username,
        "userId": user.id,
        "userLanguage": "en_US",
        "userLocale": "en_US",
        "userName": user.username,
        "userTimeZone": user.time_zone,
        "userType": "Standard",
        "userUiSkin": "Theme3",
    }
    info_xml = "".join(f"<{k}>{escape(v)}</{k}>" if v else f'<{k} xsi:nil="true"/>' for k, v in info.items())
    sandbox = "true" if rt.config.is_sandbox else "false"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns="{PARTNER_NS}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{escape(base)}/services/Soap/m/{version}/{org15}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired>"
        f"<sandbox>{sandbox}</sandbox>"
        f"<serverUrl>{escape(base)}/services/Soap/u/{version}/{org15}</serverUrl>"
        f"<sessionId>{escape(session.token)}</sessionId>"
        f"<userId>{user.id}</userId>"
        f"<userInfo>{info_xml}</userInfo>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


async def soap_login_endpoint(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    version = parse_version("v" + str(request.path_params["version"]))
    if version is None:
        return _soap_fault(
            "UNSUPPORTED_API_VERSION",
            f"Invalid Api version specified on URL: {request.path_params['version']}",
        )
    body = await request.body()
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        return _soap_fault("INVALID_REQUEST", f"The SOAP request is not well-formed XML: {e}")
    login = root.find(f".//{{{PARTNER_NS}}}login")
    if login is None:
        return _soap_fault("INVALID_OPERATION", "Only the login call is served on this endpoint.")
    username = login.findtext(f"{{{PARTNER_NS}}}username") or ""
    password = login.findtext(f"{{{PARTNER_NS}}}password") or ""
    user = rt.config.user(username)
    if user is None or not check_password(user, password):
        return _soap_fault("INVALID_LOGIN", INVALID_LOGIN_MESSAGE)
    if not user.active:
        return _soap_fault("INVALID_LOGIN", INVALID_LOGIN_MESSAGE)
    session = rt.sessions.issue(user, None)
    return Response(_soap_login_response(rt, base_url(request), version, session), media_type=XML_TYPE)


def routes() -> list[Route]:
    return [
        Route("/services/oauth2/token", token_endpoint, methods=["POST"]),
        Route("/services/oauth2/revoke", revoke_endpoint, methods=["POST", "GET"]),
        Route("/services/oauth2/userinfo", userinfo_endpoint, methods=["GET", "POST"]),
        Route("/id/{org}/{user}", id_endpoint, methods=["GET"]),
        Route("/services/Soap/u/{version}", soap_login_endpoint, methods=["POST"]),
    ]


__all__ = ["JSON_TYPE", "grant", "routes"]
