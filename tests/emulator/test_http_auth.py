"""The emulator's login surface over HTTP: OAuth token grants and errors, SOAP login, identity, sessions."""

from __future__ import annotations

import base64
import datetime as dt
import re
import time
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sfsync.emulator.metadata.model import AppDef, OrgConfig, RefreshTokenDef, UserDef

CLIENT = {"client_id": "sfsync-demo-client", "client_secret": "sfsync-demo-secret"}
USER = {"username": "admin@example.com", "password": "sfsync-demo"}
TOKEN_RE = re.compile(r"^(00D\w{12,15})![.\w]*$")  # what the sf CLI checks
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"


@pytest.fixture
def http(emulator: Any) -> httpx.Client:
    return httpx.Client(transport=emulator.transport, base_url=emulator.base_url)


def token(http: httpx.Client, **form: str) -> httpx.Response:
    return http.post("/services/oauth2/token", data=form)


def test_password_grant_returns_a_salesforce_shaped_token(http: httpx.Client, emulator: Any) -> None:
    r = token(http, grant_type="password", **CLIENT, **USER)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json;charset=UTF-8"
    body = r.json()
    assert set(body) == {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
        "scope",
    }
    assert TOKEN_RE.match(body["access_token"])
    assert body["access_token"].startswith(emulator.config.org_id[:15] + "!")
    assert body["instance_url"] == "https://emulator.test"
    org_id, user_id = body["id"].rsplit("/", 2)[-2:]
    assert org_id == emulator.config.org_id and user_id == emulator.config.users[0].id
    assert body["token_type"] == "Bearer" and body["issued_at"].isdigit()
    assert "refresh_token" not in body
    me = http.get("/services/oauth2/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["preferred_username"] == "admin@example.com"
    assert me.json()["organization_id"] == emulator.config.org_id
    ident = http.get(
        body["id"].replace("https://emulator.test", ""),
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert ident.status_code == 200 and ident.json()["username"] == "admin@example.com"


@pytest.mark.parametrize(
    ("form", "error", "description"),
    [
        (
            {"grant_type": "password", **CLIENT, "username": "admin@example.com", "password": "nope"},
            "invalid_grant",
            "authentication failure",
        ),
        (
            {"grant_type": "password", **CLIENT, "username": "ghost@example.com", "password": "sfsync-demo"},
            "invalid_grant",
            "authentication failure",
        ),
        (
            {"grant_type": "password", "client_id": "unknown", "client_secret": "x", **USER},
            "invalid_client_id",
            "client identifier invalid",
        ),
        (
            {"grant_type": "password", "client_id": "sfsync-demo-client", "client_secret": "wrong", **USER},
            "invalid_client",
            "invalid client credentials",
        ),
        (
            {"grant_type": "password", **CLIENT, "username": "admin@example.com"},
            "invalid_request",
            "missing required parameter: password",
        ),
        (
            {"grant_type": "authorization_code", **CLIENT},
            "unsupported_grant_type",
            "grant type not supported",
        ),
        ({**CLIENT}, "unsupported_grant_type", "grant type not supported"),
        (
            {"grant_type": "refresh_token", "client_id": "sfsync-demo-client", "refresh_token": "5Aep-bogus"},
            "invalid_grant",
            "expired access/refresh token",
        ),
    ],
)
def test_token_errors(http: httpx.Client, form: dict[str, str], error: str, description: str) -> None:
    r = token(http, **form)
    assert r.status_code == 400
    assert r.json() == {"error": error, "error_description": description}


def test_security_token_suffix_and_inactive_user(http: httpx.Client, org_config: OrgConfig) -> None:
    org_config.users.append(
        UserDef(id="005000000000002AAA", username="tok@example.com", password="pw", security_token="TOKEN123")
    )
    org_config.users.append(
        UserDef(id="005000000000003AAA", username="gone@example.com", password="pw", active=False)
    )
    base = {"grant_type": "password", **CLIENT}
    assert token(http, **base, username="tok@example.com", password="pw").json()["error"] == "invalid_grant"
    assert token(http, **base, username="tok@example.com", password="pwTOKEN123").status_code == 200
    r = token(http, **base, username="gone@example.com", password="pw")
    assert r.json() == {"error": "inactive_user", "error_description": "User is inactive"}


def test_client_credentials_in_body_or_basic_auth(http: httpx.Client) -> None:
    r = token(http, grant_type="client_credentials", **CLIENT)
    assert r.status_code == 200 and "refresh_token" not in r.json()
    basic = base64.b64encode(b"sfsync-demo-client:sfsync-demo-secret").decode()
    r = http.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200
    bad = base64.b64encode(b"sfsync-demo-client:nope").decode()
    r = http.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {bad}"},
    )
    assert r.json()["error"] == "invalid_client"


def test_refresh_token_from_the_org_config(http: httpx.Client, org_config: OrgConfig) -> None:
    org_config.refresh_tokens.append(
        RefreshTokenDef("5Aep861-configured", "admin@example.com", "sfsync-demo-client")
    )
    r = token(
        http, grant_type="refresh_token", client_id="sfsync-demo-client", refresh_token="5Aep861-configured"
    )
    assert r.status_code == 200
    assert TOKEN_RE.match(r.json()["access_token"]) and "refresh_token" not in r.json()
    r = token(
        http,
        grant_type="refresh_token",
        client_id="sfsync-demo-client",
        client_secret="wrong",
        refresh_token="5Aep861-configured",
    )
    assert r.json()["error"] == "invalid_client"


def _key_and_cert() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jwt-app")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


def test_jwt_bearer_checks_signature_and_claims(http: httpx.Client, org_config: OrgConfig) -> None:
    key, cert = _key_and_cert()
    other_key, _ = _key_and_cert()
    org_config.apps.append(AppDef(client_id="jwt-app", client_secret="s", certificate_pem=cert))
    now = int(time.time())
    good = {
        "iss": "jwt-app",
        "sub": "admin@example.com",
        "aud": "https://login.salesforce.com",
        "exp": now + 180,
    }

    def assertion(claims: dict[str, Any], signer: rsa.RSAPrivateKey = key) -> httpx.Response:
        return token(
            http,
            grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer",
            assertion=jwt.encode(claims, signer, algorithm="RS256"),
        )

    ok = assertion(good)
    assert ok.status_code == 200 and "refresh_token" not in ok.json()
    assert assertion({**good, "aud": "https://emulator.test"}).status_code == 200
    assert assertion({**good, "aud": "https://evil.example.com"}).json() == {
        "error": "invalid_grant",
        "error_description": "Audience validation failed",
    }
    assert assertion(good, other_key).json() == {
        "error": "invalid_grant",
        "error_description": "invalid assertion",
    }
    assert assertion({**good, "exp": now - 3600}).json()["error"] == "invalid_grant"
    assert assertion({**good, "iss": "nobody"}).json()["error"] == "invalid_client_id"
    missing_sub = {k: v for k, v in good.items() if k != "sub"}
    assert assertion(missing_sub).json()["error"] == "invalid_grant"


def _soap_login(http: httpx.Client, username: str, password: str, version: str = "59.0") -> httpx.Response:
    envelope = (
        '<?xml version="1.0" encoding="utf-8" ?>'
        '<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com">'
        f"<env:Body><urn:login><urn:username>{username}</urn:username>"
        f"<urn:password>{password}</urn:password></urn:login></env:Body></env:Envelope>"
    )
    return http.post(
        f"/services/Soap/u/{version}",
        content=envelope,
        headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "login"},
    )


def test_soap_login_success_shape(http: httpx.Client, emulator: Any) -> None:
    r = _soap_login(http, "admin@example.com", "sfsync-demo")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/xml")
    # default namespace on the envelope: loginResponse and its children are unprefixed
    assert 'xmlns="urn:partner.soap.sforce.com"' in r.text and "<loginResponse><result>" in r.text
    root = ET.fromstring(r.content)
    assert root.tag == f"{{{SOAP_ENV}}}Envelope"
    result = root.find(f"{{{SOAP_ENV}}}Body/{{{PARTNER}}}loginResponse/{{{PARTNER}}}result")
    assert result is not None
    children = [c.tag.split("}")[1] for c in result]
    assert children == [
        "metadataServerUrl",
        "passwordExpired",
        "sandbox",
        "serverUrl",
        "sessionId",
        "userId",
        "userInfo",
    ]
    assert result.findtext(f"{{{PARTNER}}}passwordExpired") == "false"
    org15 = emulator.config.org_id[:15]
    assert result.findtext(f"{{{PARTNER}}}serverUrl") == f"https://emulator.test/services/Soap/u/59.0/{org15}"
    session_id = result.findtext(f"{{{PARTNER}}}sessionId") or ""
    assert TOKEN_RE.match(session_id)
    info = result.find(f"{{{PARTNER}}}userInfo")
    assert info is not None
    assert info.findtext(f"{{{PARTNER}}}organizationId") == emulator.config.org_id
    assert info.findtext(f"{{{PARTNER}}}userName") == "admin@example.com"
    assert info.findtext(f"{{{PARTNER}}}userEmail") == "admin@example.com"
    assert info.findtext(f"{{{PARTNER}}}sessionSecondsValid") == "7200"
    # the session works on the REST API
    rest = http.get("/services/data/v59.0/limits", headers={"Authorization": f"Bearer {session_id}"})
    assert rest.status_code == 200


def test_soap_login_fault_shape(http: httpx.Client) -> None:
    r = _soap_login(http, "admin@example.com", "wrong")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("text/xml")
    # simple-salesforce looks the prefixed tags up literally
    assert "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in r.text
    assert 'xmlns:sf="urn:fault.partner.soap.sforce.com"' in r.text
    root = ET.fromstring(r.content)
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None
    assert fault.findtext("faultcode") == "sf:INVALID_LOGIN"
    assert fault.findtext("faultstring") == (
        "INVALID_LOGIN: Invalid username, password, security token; or user locked out."
    )
    detail = fault.find("detail/{urn:fault.partner.soap.sforce.com}LoginFault")
    assert detail is not None
    assert detail.findtext("{urn:fault.partner.soap.sforce.com}exceptionCode") == "INVALID_LOGIN"


def test_401_body_for_missing_bad_and_expired_sessions(http: httpx.Client, emulator: Any) -> None:
    expected = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    for headers in ({}, {"Authorization": "Bearer 00Dxx!nope"}):
        r = http.get("/services/data/v59.0/sobjects", headers=headers)
        assert r.status_code == 401 and r.json() == expected
        assert r.headers["content-type"] == "application/json;charset=UTF-8"
    live = emulator.token()
    assert (
        http.get("/services/data/v59.0/limits", headers={"Authorization": f"Bearer {live}"}).status_code
        == 200
    )
    emulator.set_faults(session_seconds=0)
    r = http.get("/services/data/v59.0/limits", headers={"Authorization": f"Bearer {live}"})
    assert r.status_code == 401 and r.json() == expected
    r = http.get("/services/oauth2/userinfo", headers={"Authorization": f"Bearer {live}"})
    assert r.status_code == 401 and r.json() == expected
