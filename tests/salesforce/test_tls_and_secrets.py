"""Real sockets (plain and TLS) and the guarantee that no secret leaks into errors, logs or reprs."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from sfsync.emulator.metadata.model import OrgConfig, UserDef
from sfsync.errors import SalesforceConfigError, SfsyncError
from sfsync.salesforce import SalesforceClient
from tests.salesforce.conftest import DEFAULT_CLIENT_ID, password_settings


def test_over_a_real_socket(live_emulator: Any) -> None:
    with SalesforceClient(password_settings(live_emulator.url)) as sf:
        results = sf.create("Account", [{"Name": f"A{i}"} for i in range(250)])
        assert all(r.success for r in results)
        job = sf.bulk.run("Account", "insert", b"Name\nBulk One\nBulk Two\n")
        assert job.succeeded
        assert sf.count("SELECT COUNT() FROM Account") == 252
        assert sf.api_usage is not None and sf.api_usage.used == live_emulator.usage()


def test_over_tls_with_the_emulator_ca(live_tls_emulator: Any) -> None:
    settings = password_settings(live_tls_emulator.url, ca_bundle=live_tls_emulator.ca_path)
    with SalesforceClient(settings) as sf:
        assert sf.instance_url.startswith("https://127.0.0.1:")
        assert sf.create("Lead", [{"LastName": "Tls", "Company": "Acme"}])[0].success
        assert sf.bulk_query.run("SELECT LastName FROM Lead").column("LastName").to_pylist() == ["Tls"]


def test_tls_without_trust_fails_clearly_and_without_retries(live_tls_emulator: Any) -> None:
    with (
        SalesforceClient(password_settings(live_tls_emulator.url)) as sf,
        pytest.raises(SalesforceConfigError) as info,
    ):
        sf.authenticate()
    assert info.value.code == "TLS_CERTIFICATE_UNTRUSTED" and "ca_bundle" in str(info.value)
    # the message names the real cause OpenSSL gave, not a guess
    assert "self-signed" in str(info.value) or "issuer" in str(info.value)
    assert sf.stats.retries == 0


def test_a_ca_bundle_adds_trust_and_keeps_the_system_store(live_tls_emulator: Any) -> None:
    """ca_bundle adds the emulator's CA to the system's CAs; it does not replace them."""
    import ssl

    from sfsync.salesforce.transport import _verify

    settings = password_settings(live_tls_emulator.url, ca_bundle=live_tls_emulator.ca_path)
    context = _verify(settings)
    assert isinstance(context, ssl.SSLContext)
    system = ssl.create_default_context().cert_store_stats()["x509_ca"]
    assert context.cert_store_stats()["x509_ca"] == system + 1


def test_a_certificate_for_another_host_is_named_as_such(live_tls_emulator: Any) -> None:
    """The emulator's certificate is for 127.0.0.1 and localhost; reached by another name it must fail
    with a hint about the host name, not about a missing CA."""
    import socket

    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        pytest.skip("this machine's host name does not resolve")
    if address not in ("127.0.0.1", "127.0.1.1") or name in ("localhost",):
        pytest.skip("the host name does not point at loopback here")
    url = live_tls_emulator.url.replace("127.0.0.1", name)
    with (
        SalesforceClient(password_settings(url, ca_bundle=live_tls_emulator.ca_path)) as sf,
        pytest.raises(SalesforceConfigError) as info,
    ):
        sf.authenticate()
    assert "another host name" in str(info.value), str(info.value)


def test_no_secret_in_errors_logs_or_reprs(
    org_config: OrgConfig, emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    org_config.users.append(
        UserDef(
            id="005000000000009AAA",
            username="leak@example.com",
            password="Pw-Sekr1t-9931",
            security_token="Tok-Sekr1t-5521",
        )
    )
    secrets = ["Pw-Sekr1t-9931", "Tok-Sekr1t-5521", "sfsync-demo-secret", "Wrong-Sekr1t-0042"]
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)

    def capture(settings_changes: dict[str, Any], action: Any) -> None:
        client = SalesforceClient(
            password_settings(emulator.base_url, **settings_changes),
            transport=emulator.transport,
            rng=random.Random(2),
        )
        texts.extend([repr(client), repr(client.settings), str(client.settings), repr(client.transport)])
        try:
            action(client)
        except SfsyncError as exc:
            texts.extend([str(exc), repr(exc), exc.message, exc.hint or ""])
        finally:
            client.close()

    good = {"username": "leak@example.com", "password": "Pw-Sekr1t-9931", "security_token": "Tok-Sekr1t-5521"}

    def busy(client: SalesforceClient) -> None:
        session = client.authenticate()
        texts.append(repr(session))
        secrets.append(session.access_token.get_secret_value())
        client.create("Contact", [{"LastName": "x"}, {"Email": "bad"}])
        emulator.runtime.sessions.expire_all()
        client.bulk.run("Contact", "insert", b"LastName\ny\n")
        emulator.set_faults(unavailable_rate=1.0)
        try:
            client.describe("Case")
        finally:
            emulator.set_faults(unavailable_rate=0.0)

    capture(good, busy)
    capture({**good, "password": "Wrong-Sekr1t-0042"}, lambda c: c.authenticate())
    capture({**good, "client_secret": "Wrong-Sekr1t-0042"}, lambda c: c.authenticate())
    capture(
        {
            "flow": "access_token",
            "instance_url": emulator.base_url,
            "access_token": "Wrong-Sekr1t-0042",
            "client_id": DEFAULT_CLIENT_ID,
        },
        lambda c: c.describe_global(),
    )
    capture(
        {
            "flow": "jwt",
            "client_id": DEFAULT_CLIENT_ID,
            "username": "leak@example.com",
            "private_key": "-----BEGIN PRIVATE KEY-----\nWrong-Sekr1t-0042\n-----END PRIVATE KEY-----",
        },
        lambda c: c.authenticate(),
    )
    texts.extend(record.getMessage() for record in caplog.records)
    texts.extend(str(record.args) for record in caplog.records)
    assert len(texts) > 20 and any("retry" in t for t in texts)
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"secret leaked into: {text[:200]}"
