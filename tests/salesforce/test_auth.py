"""Every auth flow against the emulator, wrong credentials, and sessions that expire mid-work."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from sfsync.emulator.metadata.model import AppDef, OrgConfig, RefreshTokenDef, UserDef
from sfsync.errors import AuthError, ConfigError
from sfsync.salesforce import PRODUCTION_LOGIN_URL, SANDBOX_LOGIN_URL, ConnectionSettings, SalesforceClient
from sfsync.salesforce.auth import Authenticator
from tests.salesforce.conftest import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_USERNAME,
    FAST,
    ClientFactory,
    password_settings,
)


def client_for(emulator: Any, **values: Any) -> SalesforceClient:
    values.setdefault("login_url", emulator.base_url)
    return SalesforceClient(
        ConnectionSettings(**values, **FAST), transport=emulator.transport, rng=random.Random(1)
    )


def assert_works(client: SalesforceClient, base_url: str) -> None:
    with client:
        session = client.authenticate()
        assert session.instance_url == base_url
        if client.settings.flow != "access_token":  # the other flows learn the ids from the token answer
            assert session.org_id and session.org_id.startswith("00D")
            assert session.user_id and session.user_id.startswith("005")
        assert client.describe("Account").field("Name") is not None


def rsa_key_and_cert() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sfsync-test-jwt")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def test_password_flow(make_client: ClientFactory, emulator: Any) -> None:
    assert_works(make_client(), emulator.base_url)


def test_password_flow_with_security_token(org_config: OrgConfig, emulator: Any) -> None:
    org_config.users.append(
        UserDef(
            id="005000000000002AAA", username="tok@example.com", password="pw-1", security_token="TOKEN123"
        )
    )
    common = {
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "username": "tok@example.com",
        "password": "pw-1",
    }
    assert_works(client_for(emulator, **common, security_token="TOKEN123"), emulator.base_url)
    with client_for(emulator, **common) as client, pytest.raises(AuthError) as info:
        client.authenticate()
    assert info.value.code == "invalid_grant" and "security token" in str(info.value)


def test_wrong_password_is_a_clear_auth_error(make_client: ClientFactory) -> None:
    client = make_client(password="not-the-password")
    with pytest.raises(AuthError) as info:
        client.authenticate()
    error = info.value
    assert error.code == "invalid_grant" and error.status == 400
    assert "authentication failure" in str(error) and "password" in (error.hint or "")
    assert client.stats.retries == 0  # wrong credentials are not retried


def test_wrong_client_secret(make_client: ClientFactory) -> None:
    with pytest.raises(AuthError) as info:
        make_client(client_secret="nope").authenticate()
    assert info.value.code in {"invalid_client", "invalid_client_id"}
    assert "client" in (info.value.hint or "")


def test_client_credentials_flow(emulator: Any) -> None:
    client = client_for(
        emulator, flow="client_credentials", client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET
    )
    assert_works(client, emulator.base_url)
    with (
        client_for(
            emulator, flow="client_credentials", client_id=DEFAULT_CLIENT_ID, client_secret="bad"
        ) as bad,
        pytest.raises(AuthError),
    ):
        bad.authenticate()


def test_refresh_token_flow(org_config: OrgConfig, emulator: Any) -> None:
    org_config.refresh_tokens.append(
        RefreshTokenDef("5Aep861-test-refresh", DEFAULT_USERNAME, DEFAULT_CLIENT_ID)
    )
    assert_works(
        client_for(
            emulator, flow="refresh_token", client_id=DEFAULT_CLIENT_ID, refresh_token="5Aep861-test-refresh"
        ),
        emulator.base_url,
    )
    with (
        client_for(
            emulator, flow="refresh_token", client_id=DEFAULT_CLIENT_ID, refresh_token="5Aep861-revoked"
        ) as bad,
        pytest.raises(AuthError) as info,
    ):
        bad.authenticate()
    assert "expired access/refresh token" in str(info.value)


def test_access_token_flow(emulator: Any) -> None:
    client = client_for(
        emulator, flow="access_token", instance_url=emulator.base_url, access_token=emulator.token()
    )
    assert_works(client, emulator.base_url)


def test_access_token_flow_cannot_refresh_and_says_so(emulator: Any) -> None:
    client = client_for(
        emulator, flow="access_token", instance_url=emulator.base_url, access_token=emulator.token()
    )
    with client:
        client.describe_global()
        emulator.runtime.sessions.expire_all()
        with pytest.raises(AuthError) as info:
            client.describe("Contact")
    assert "cannot log in again" in str(info.value) and "access_token" in (info.value.hint or "")
    assert info.value.code == "INVALID_SESSION_ID"


def test_jwt_flow_with_key_text_and_key_file(org_config: OrgConfig, emulator: Any, tmp_path: Path) -> None:
    key_pem, cert_pem = rsa_key_and_cert()
    org_config.apps.append(AppDef(client_id="jwt-app", client_secret="unused", certificate_pem=cert_pem))
    common = {"flow": "jwt", "client_id": "jwt-app", "username": DEFAULT_USERNAME}
    assert_works(client_for(emulator, **common, private_key=key_pem), emulator.base_url)
    key_file = tmp_path / "server.key"
    key_file.write_text(key_pem)
    assert_works(client_for(emulator, **common, private_key_file=key_file), emulator.base_url)


def test_jwt_flow_refuses_a_key_the_app_does_not_know(
    org_config: OrgConfig, emulator: Any, tmp_path: Path
) -> None:
    _, cert_pem = rsa_key_and_cert()
    other_key, _ = rsa_key_and_cert()
    org_config.apps.append(AppDef(client_id="jwt-app", client_secret="unused", certificate_pem=cert_pem))
    with (
        client_for(
            emulator, flow="jwt", client_id="jwt-app", username=DEFAULT_USERNAME, private_key=other_key
        ) as client,
        pytest.raises(AuthError) as info,
    ):
        client.authenticate()
    assert info.value.code == "invalid_grant"
    not_a_key = tmp_path / "bad.key"
    not_a_key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with (
        client_for(
            emulator, flow="jwt", client_id="jwt-app", username=DEFAULT_USERNAME, private_key_file=not_a_key
        ) as client,
        pytest.raises(ConfigError) as bad,
    ):
        client.authenticate()
    assert "bad.key" in str(bad.value) and "not a usable RSA private key" in str(bad.value)


def test_expired_session_is_renewed_once_and_the_call_repeated(sf: SalesforceClient, emulator: Any) -> None:
    sf.describe_global()
    emulator.runtime.sessions.expire_all()
    assert sf.describe("Lead").name == "Lead"
    assert sf.stats.reauthentications == 1


@pytest.mark.slow
def test_session_expiring_in_the_middle_of_a_bulk_job(make_client: ClientFactory, emulator: Any) -> None:
    # Sessions live 2 s while the job stays InProgress for 3 s: polls and results outlive sessions.
    emulator.set_faults(session_seconds=2, bulk_delay_seconds=3.0)
    client = make_client()
    csv = b"LastName,Email\n" + b"".join(b"Lee%d,lee%d@example.com\n" % (i, i) for i in range(50))
    job = client.bulk.run(
        "Contact", "insert", csv, on_created=lambda _: emulator.runtime.sessions.expire_all()
    )
    assert job.state == "JobComplete" and job.records_processed == 50 and job.records_failed == 0
    assert client.bulk.results(job.id, "successful").num_rows == 50
    assert client.stats.reauthentications >= 2  # after the forced expiry, and after the lifetime ran out
    assert client.count("SELECT COUNT() FROM Contact") == 50


def test_access_token_flow_with_a_wrong_token(emulator: Any) -> None:
    with (
        client_for(
            emulator,
            flow="access_token",
            instance_url=emulator.base_url,
            access_token="00Dxx0000001gPL!wrong",
        ) as client,
        pytest.raises(AuthError) as info,
    ):
        client.describe_global()
    assert info.value.status == 401 and "fresh access_token" in (info.value.hint or "")
    assert client.stats.calls == 1  # one refused call, no login attempt, no retry


def test_jwt_claims_and_login_hosts() -> None:
    key_pem, cert_pem = rsa_key_and_cert()
    sandbox = ConnectionSettings(
        flow="jwt",
        login_url=SANDBOX_LOGIN_URL,
        client_id="3MVG9-key",
        username="sync@acme.com.uat",
        private_key=SecretStr(key_pem),
    )
    auth = Authenticator(sandbox)
    assert auth.token_url == "https://test.salesforce.com/services/oauth2/token"
    assertion = auth.jwt_assertion(now=1_700_000_000)
    public = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    claims = jwt.decode(
        assertion,
        public,
        algorithms=["RS256"],
        audience="https://test.salesforce.com",
        options={"verify_exp": False},
    )
    assert claims == {
        "iss": "3MVG9-key",
        "sub": "sync@acme.com.uat",
        "aud": "https://test.salesforce.com",
        "exp": 1_700_000_180,
    }
    my_domain = sandbox.model_copy(
        update={
            "login_url": "https://acme--uat.sandbox.my.salesforce.com",
            "jwt_audience": "https://test.salesforce.com",
        }
    )
    assert Authenticator(my_domain).token_url.startswith("https://acme--uat.sandbox.my.salesforce.com/")
    assert jwt.decode(Authenticator(my_domain).jwt_assertion(), options={"verify_signature": False})[
        "aud"
    ] == ("https://test.salesforce.com")
    assert ConnectionSettings().login_url == PRODUCTION_LOGIN_URL


def test_a_session_refused_right_after_a_login_is_retried_like_a_transient_failure(emulator: Any) -> None:
    """Very short sessions plus 503s (issue 12, item 5): each retry's backoff outlives the session, so
    the session issued by the re-login is already expired when the call is repeated. That is a race,
    not a refusal: the client backs off, logs in again and the call goes through."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        # the session's lifetime runs out during every wait; Salesforce answers again after two 503s
        waits.append(seconds)
        emulator.runtime.sessions.expire_all()
        if len(waits) == 2:
            emulator.set_faults(unavailable_rate=0.0)

    settings = password_settings(emulator.base_url)
    with SalesforceClient(settings, transport=emulator.transport, rng=random.Random(3), sleep=sleep) as sf:
        sf.authenticate()
        emulator.set_faults(unavailable_rate=1.0)
        assert sf.describe("Lead").name == "Lead"
        assert sf.stats.reauthentications >= 2
    assert len(waits) >= 2


def test_sessions_refused_through_every_retry_end_as_an_auth_error(emulator: Any) -> None:
    """A session that keeps being refused as soon as it is issued is an AuthError once the retries are
    spent (not an endless loop)."""
    emulator.set_faults(session_seconds=0)
    settings = password_settings(emulator.base_url, max_retries=2)
    with (
        SalesforceClient(settings, transport=emulator.transport, sleep=lambda _s: None) as sf,
        pytest.raises(AuthError, match="refused a session it had just issued") as info,
    ):
        sf.describe_global()
    assert "after 2 retries" in info.value.message
