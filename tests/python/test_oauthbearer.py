"""SASL/OAUTHBEARER and KIP-368 re-authentication (issue 18) with real clients.

Guards against: a broker that lets in a JWT with a bad signature, past its `exp` or for another
audience; a token's subject that is not the principal ACLs are checked against; a failure
answered otherwise than Kafka's OAuthBearerSaslServer does (RFC 7628 §3.2.2: the
`{"status":"invalid_token"}` challenge, then SASL_AUTHENTICATION_FAILED after the client's
%x01); a session that outlives `connections.max.reauth.ms`, or a re-authentication on the same
connection that is refused or that may change the principal.

The tokens are JWS (RS256) signed here with the openssl CLI by a key made here; the broker
reads its public key from a JWKS file (`sasl.oauthbearer.jwks.endpoint.url=file://...`).
librdkafka gets them from confluent_kafka's `oauth_cb`. With VLTAVA_TEST_BROKER=kafka the same
tests run against Apache Kafka 4.4.0 configured with its OAuthBearerValidatorCallbackHandler
and the file URL on `org.apache.kafka.sasl.oauthbearer.allowed.urls`.
"""

import base64
import json
import logging
import os
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer

from conftest import IS_VLTAVA
from test_security import (ROUND_TRIP_TIMEOUT_S, STANDARD_AUTHORIZER, acl, authentication_error,
                           certs, create_topics, grant, produce_error, round_trip,  # noqa: F401
                           start_secure, until)

pytestmark = pytest.mark.single_node("starts its own brokers with security settings")

AUDIENCE = "vltava-tests"
ISSUER = "vltava-test-issuer"
TOKEN_LIFETIME_S = 600
REAUTH_MS = 3000
SASL_AUTHENTICATION_FAILED = 58
VALIDATOR = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
LOGIN_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    """An RSA key (openssl) that signs RS256 JWTs, and the JWKS with its public half."""

    def __init__(self, directory: Path, name: str):
        self.key = directory / f"{name}.pem"
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", str(self.key)],
                       check=True, capture_output=True, timeout=60)
        modulus = subprocess.run(["openssl", "rsa", "-in", str(self.key), "-noout", "-modulus"],
                                 check=True, capture_output=True, text=True, timeout=60)
        n = bytes.fromhex(modulus.stdout.strip().split("=", 1)[1])
        self.kid = name
        self.jwk = {"kty": "RSA", "kid": name, "use": "sig", "alg": "RS256",
                    "n": b64url(n), "e": b64url((65537).to_bytes(3, "big"))}

    def token(self, sub: str, exp_s: float | None = None, aud: str = AUDIENCE,
              kid: str | None = None, iss: str = ISSUER) -> str:
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": kid or self.kid}
        claims = {"sub": sub, "iat": now, "exp": int(exp_s or now + TOKEN_LIFETIME_S),
                  "aud": aud, "iss": iss, "scope": "kafka"}
        signed = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                                   input=signed.encode(), check=True, capture_output=True,
                                   timeout=60).stdout
        return f"{signed}.{b64url(signature)}"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """(signer, stranger, jwks file): the JWKS lists only the signer's key."""
    d = tmp_path_factory.mktemp("jwks")
    signer, stranger = Signer(d, "issuer-key"), Signer(d, "stranger-key")
    jwks = d / "jwks.json"
    jwks.write_text(json.dumps({"keys": [signer.jwk]}))
    return signer, stranger, jwks


def start_oauth(tmp_path: Path, certs: Path, jwks: Path, settings: dict | None = None,
                monkeypatch=None):
    """A broker with OAUTHBEARER enabled next to PLAIN and SCRAM on its SASL listeners."""
    url = f"file://{jwks}"
    settings = {
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
        "sasl.oauthbearer.jwks.endpoint.url": url,
        "sasl.oauthbearer.expected.audience": AUDIENCE,
        "sasl.oauthbearer.expected.issuer": ISSUER,
        **(settings or {}),
    }
    if not IS_VLTAVA:
        for listener in ("sasl_plaintext", "sasl_ssl"):
            settings[f"listener.name.{listener}.oauthbearer.sasl.server.callback.handler.class"] \
                = VALIDATOR
            settings[f"listener.name.{listener}.oauthbearer.sasl.jaas.config"] = LOGIN_MODULE
        # Kafka 4 reads no URL that is not on this allow-list (CVE-2025-27817).
        monkeypatch.setenv("JAVA_TOOL_OPTIONS",
                           f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={url}")
    return start_secure(tmp_path / "data", certs, "none", settings)


@pytest.fixture
def oauth_broker(tmp_path, certs, keys, monkeypatch):
    broker = start_oauth(tmp_path, certs, keys[2], monkeypatch=monkeypatch)
    yield broker
    broker.node.stop()


def oauth(token_of, calls: list | None = None) -> dict:
    """librdkafka settings taking a token from `token_of()` in oauth_cb."""
    def oauth_cb(_config):
        token, sub = token_of()
        if calls is not None:
            calls.append(time.monotonic())
        return token, time.time() + TOKEN_LIFETIME_S, sub
    return {"sasl.mechanism": "OAUTHBEARER", "oauth_cb": oauth_cb}


def as_subject(broker, signer: Signer, sub: str) -> dict:
    return {"bootstrap.servers": broker.address("SASL_PLAINTEXT"),
            "security.protocol": "SASL_PLAINTEXT",
            **oauth(lambda: (signer.token(sub), sub))}


def test_produce_and_consume_with_an_oauthbearer_token(oauth_broker, keys):
    signer = keys[0]
    round_trip(oauth_broker.address("SASL_PLAINTEXT"), "SASL_PLAINTEXT",
               oauth(lambda: (signer.token("svc-orders"), "svc-orders")))


@pytest.mark.parametrize("problem", ["expired", "bad signature", "wrong audience",
                                     "wrong issuer", "unknown kid"])
def test_a_token_that_does_not_validate_fails_authentication(oauth_broker, keys, problem):
    signer, stranger, _ = keys
    token = {
        # Past the 30 s clock skew; librdkafka is told it is still valid, so it sends it.
        "expired": lambda: signer.token("svc-orders", exp_s=time.time() - 120),
        "bad signature": lambda: stranger.token("svc-orders", kid=signer.kid),
        "wrong audience": lambda: signer.token("svc-orders", aud="billing"),
        "wrong issuer": lambda: signer.token("svc-orders", iss="https://elsewhere"),
        "unknown kid": lambda: stranger.token("svc-orders"),
    }[problem]
    error = authentication_error(oauth_broker.address("SASL_PLAINTEXT"), "SASL_PLAINTEXT",
                                 oauth(lambda: (token(), "svc-orders")))
    assert error.code() == KafkaError._AUTHENTICATION


@pytest.fixture
def oauth_acl_broker(tmp_path, certs, keys, monkeypatch):
    broker = start_oauth(tmp_path, certs, keys[2], {
        "authorizer.class.name": STANDARD_AUTHORIZER,
        "super.users": "User:admin;User:ANONYMOUS",
    }, monkeypatch=monkeypatch)
    yield broker
    broker.node.stop()


def test_the_token_subject_is_the_principal_acls_are_checked_against(oauth_acl_broker, keys):
    from confluent_kafka.admin import AclOperation, ResourceType
    signer = keys[0]
    topic = f"oauth-{uuid.uuid4().hex[:8]}"
    create_topics(oauth_acl_broker, topic)
    grant(oauth_acl_broker, acl(ResourceType.TOPIC, topic, "User:svc-orders", AclOperation.WRITE))
    until(lambda: produce_error(as_subject(oauth_acl_broker, signer, "svc-orders"), topic) is None,
          "User:svc-orders may write")
    refused = produce_error(as_subject(oauth_acl_broker, signer, "svc-billing"), topic)
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


# KIP-368 re-authentication.

@pytest.fixture
def reauth_broker(tmp_path, certs, keys, monkeypatch):
    broker = start_oauth(tmp_path, certs, keys[2], {"connections.max.reauth.ms": str(REAUTH_MS)},
                         monkeypatch=monkeypatch)
    yield broker
    broker.node.stop()


class Captured(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_librdkafka_reauthenticates_and_keeps_producing(reauth_broker, keys):
    """librdkafka re-authenticates at 90 % of the session lifetime the broker gives it; its
    connection stays up and every record is delivered over more than 3 lifetimes."""
    signer = keys[0]
    topic = f"reauth-{uuid.uuid4().hex[:8]}"
    captured = Captured()
    logger = logging.getLogger(f"rdkafka-{topic}")
    logger.addHandler(captured)
    logger.setLevel(logging.DEBUG)
    producer = Producer({**as_subject(reauth_broker, signer, "svc-orders"),
                         "debug": "broker,security", "logger": logger,
                         "message.timeout.ms": int(ROUND_TRIP_TIMEOUT_S * 1000)})
    delivered = []
    deadline = time.monotonic() + 3.5 * REAUTH_MS / 1000
    sent = 0
    while time.monotonic() < deadline:
        producer.produce(topic, f"r{sent}".encode(),
                         on_delivery=lambda err, msg: delivered.append(err))
        sent += 1
        producer.poll(0.2)
    assert producer.flush(ROUND_TRIP_TIMEOUT_S) == 0
    assert delivered == [None] * sent
    reauths = [line for line in captured.lines if "Received REAUTH op" in line]
    assert len(reauths) >= 3, f"{len(reauths)} re-authentications in {3.5 * REAUTH_MS} ms"
    dropped = [line for line in captured.lines if "Disconnected (after" in line]
    assert not dropped, dropped


# The same on a raw socket: the exact answers, and the connection closed after expiry.

class Raw:
    """A Kafka connection speaking SaslHandshake v1, SaslAuthenticate v1 and Metadata v1."""

    def __init__(self, address: str):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.correlation = 0

    def request(self, key: int, version: int, body: bytes) -> bytes:
        self.correlation += 1
        header = struct.pack(">hhih", key, version, self.correlation, 3) + b"raw"
        frame = header + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", self._read(4))[0]
        response = self._read(size)
        assert struct.unpack(">i", response[:4])[0] == self.correlation
        return response[4:]

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed by the broker")
            data += chunk
        return data

    def handshake(self, mechanism: str) -> int:
        body = struct.pack(">h", len(mechanism)) + mechanism.encode()
        return struct.unpack(">h", self.request(17, 1, body)[:2])[0]

    def authenticate(self, auth: bytes) -> tuple:
        """(error code, error message, auth bytes, session lifetime ms)."""
        r = self.request(36, 1, struct.pack(">i", len(auth)) + auth)
        error, length = struct.unpack(">hh", r[:4])
        pos = 4
        message = None
        if length >= 0:
            message, pos = r[pos:pos + length].decode(), pos + length
        auth_length = struct.unpack(">i", r[pos:pos + 4])[0]
        auth_bytes = r[pos + 4:pos + 4 + auth_length]
        lifetime = struct.unpack(">q", r[pos + 4 + auth_length:pos + 12 + auth_length])[0]
        return error, message, auth_bytes, lifetime

    def login(self, token: str) -> int:
        assert self.handshake("OAUTHBEARER") == 0
        error, message, _, lifetime = self.authenticate(
            first_message(token))
        assert error == 0, message
        return lifetime

    def metadata(self) -> bytes:
        return self.request(3, 1, struct.pack(">i", -1))

    def __enter__(self) -> "Raw":
        return self

    def __exit__(self, *_):
        self.sock.close()


def first_message(token: str) -> bytes:
    """RFC 7628's client first message, as Kafka clients send it."""
    return f"n,,\x01auth=Bearer {token}\x01\x01".encode()


def test_a_refused_token_gets_the_invalid_token_challenge(oauth_broker, keys):
    with Raw(oauth_broker.address("SASL_PLAINTEXT")) as raw:
        assert raw.handshake("OAUTHBEARER") == 0
        token = keys[1].token("svc-orders")
        error, _, challenge, _ = raw.authenticate(first_message(token))
        assert (error, json.loads(challenge)) == (0, {"status": "invalid_token"})
        error, message, _, _ = raw.authenticate(b"\x01")
        assert error == SASL_AUTHENTICATION_FAILED
        assert json.loads(message) == {"status": "invalid_token"}


def test_a_session_reports_its_lifetime_and_reauthenticates_on_its_connection(reauth_broker,
                                                                               keys):
    signer = keys[0]
    with Raw(reauth_broker.address("SASL_PLAINTEXT")) as raw:
        lifetime = raw.login(signer.token("svc-orders"))
        assert 0 < lifetime <= REAUTH_MS
        raw.metadata()
        time.sleep(1.2)  # Kafka starts at most one re-authentication a second
        assert 0 < raw.login(signer.token("svc-orders")) <= REAUTH_MS
        time.sleep(REAUTH_MS / 1000 - 0.5)  # past the first session's end, inside the second
        raw.metadata()


def test_a_session_lasts_no_longer_than_its_token(oauth_broker, keys):
    """Without connections.max.reauth.ms an OAUTHBEARER session ends with its token."""
    with Raw(oauth_broker.address("SASL_PLAINTEXT")) as raw:
        lifetime = raw.login(keys[0].token("svc-orders", exp_s=time.time() + 60))
        assert 50_000 < lifetime <= 60_000


def test_reauthentication_cannot_change_the_principal(reauth_broker, keys):
    signer = keys[0]
    with Raw(reauth_broker.address("SASL_PLAINTEXT")) as raw:
        raw.login(signer.token("svc-orders"))
        assert raw.handshake("OAUTHBEARER") == 0
        token = signer.token("svc-admin")
        error, message, _, _ = raw.authenticate(first_message(token))
        assert error == SASL_AUTHENTICATION_FAILED
        assert message == ("Cannot change principals during re-authentication from "
                           "User.svc-orders: User.svc-admin")
        with pytest.raises(OSError):
            raw.metadata()


def test_a_request_after_the_session_expired_closes_the_connection(reauth_broker, keys):
    with Raw(reauth_broker.address("SASL_PLAINTEXT")) as raw:
        raw.login(keys[0].token("svc-orders"))
        raw.metadata()
        time.sleep(REAUTH_MS / 1000 + 0.5)
        with pytest.raises(OSError):
            raw.metadata()
