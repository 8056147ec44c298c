"""Security (issue 18) with real clients: listeners secured by TLS, mTLS, SASL/PLAIN and
SASL/SCRAM, and SCRAM users created with Kafka's own kafka-configs and with confluent_kafka's
AdminClient.

Guards against: a TLS listener a client cannot produce to or consume from; a required client
certificate that is not required; SASL that lets a wrong password in or answers it with
something other than an authentication failure; SCRAM users that are not stored as metadata
(lost on restart, unknown to the other brokers of a cluster); Metadata that sends a client to
another listener than the one it came in on (it would then speak the wrong protocol).

The certificates are made here with the openssl CLI: a CA, a server certificate for
127.0.0.1, a client certificate. Each test starts its own brokers with the security settings,
so the module runs once, in the single-node run; the cluster test starts three vltava nodes.
With VLTAVA_TEST_BROKER=kafka the same tests (but the cluster one) run against Apache Kafka
4.4.0 configured the same way, to prove them.
"""

import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

from conftest import IS_VLTAVA, KAFKA_REFERENCE, KafkaBroker, VltavaBroker, free_port

pytestmark = pytest.mark.single_node("starts its own brokers with security settings")

OPENSSL_TIMEOUT_S = 60.0
ROUND_TRIP_TIMEOUT_S = 30.0
AUTH_FAILURE_TIMEOUT_S = 20.0
TOOL_TIMEOUT_S = 120.0
FETCH_TIMEOUT_S = 900.0  # the first `kafka-reference classpath` downloads the jars
CLUSTER_PROPAGATION_S = 30.0
SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
JAAS_USERS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              'user_alice="alice-secret" user_admin="admin-secret";')
EXTENSIONS = """\
[server]
basicConstraints=CA:FALSE
subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth
[client]
basicConstraints=CA:FALSE
extendedKeyUsage=clientAuth
"""


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True,
                   timeout=OPENSSL_TIMEOUT_S, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    """ca.pem; server-keystore.pem (key + chain, Kafka's PEM key store); client.pem/.key."""
    d = tmp_path_factory.mktemp("certs")
    (d / "ext.cnf").write_text(EXTENSIONS)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=vltava-test-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=keyCertSign,cRLSign", cwd=d)
    for name, subject in (("server", "/CN=localhost"), ("client", "/O=vltava/OU=tests/CN=alice")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", subject, cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                "-extfile", "ext.cnf", "-extensions", name, cwd=d)
    (d / "server-keystore.pem").write_text((d / "server.key").read_text()
                                           + (d / "server.pem").read_text())
    return d


class SecureKafka:
    """Apache Kafka 4.4.0 with the same four listeners and settings. scripts/kafka-reference
    writes one PLAINTEXT listener beside its controller's: the broker is formatted and started
    that way, stopped, given the other listeners (which must name the controller's port), and
    started again on the same directory."""

    PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")

    def __init__(self, data_dir: Path, certs: Path, client_auth: str):
        self.host = "127.0.0.1"
        self.ports = {p: free_port() for p in self.PROTOCOLS}
        jaas = {"plain": JAAS_USERS, "scram-sha-256": SCRAM_JAAS, "scram-sha-512": SCRAM_JAAS}
        settings = [
            "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "ssl.keystore.type=PEM", f"ssl.keystore.location={certs / 'server-keystore.pem'}",
            "ssl.truststore.type=PEM", f"ssl.truststore.location={certs / 'ca.pem'}",
            f"ssl.client.auth={client_auth}",
            *(f"listener.name.{listener}.{mechanism}.sasl.jaas.config={config}"
              for listener in ("sasl_plaintext", "sasl_ssl") for mechanism, config in jaas.items()),
        ]
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.kafka = KafkaBroker.__new__(KafkaBroker)
        self.kafka.data_dir = data_dir
        self.kafka.port = self.ports["PLAINTEXT"]
        self.kafka._run("start", "--dir", str(data_dir), "--port", str(self.kafka.port),
                        *[arg for setting in settings for arg in ("--set", setting)])
        self.kafka.stop()
        properties = data_dir / "server.properties"
        controller = re.search(r"^listeners=.*CONTROLLER://([^,\s]+)", properties.read_text(),
                               re.MULTILINE).group(1)
        others = [p for p in self.PROTOCOLS if p != "PLAINTEXT"]
        with properties.open("a") as out:
            out.write(f"listeners={','.join(f'{p}://{self.address(p)}' for p in self.PROTOCOLS)},"
                      f"CONTROLLER://{controller}\n")
            # PLAINTEXT last: the script reads its probe address off a line starting with it.
            out.write(f"advertised.listeners={','.join(f'{p}://{self.address(p)}' for p in others)}"
                      f",PLAINTEXT://{self.address('PLAINTEXT')}\n")
            out.write("listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
                      "SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\n")
        self.kafka._run("start", "--dir", str(data_dir))
        self.node = self.kafka

    def address(self, protocol: str) -> str:
        return f"{self.host}:{self.ports[protocol]}"


class SecureBroker:
    """A vltava node with PLAINTEXT (first: admin and bootstrap), SSL, SASL_PLAINTEXT and
    SASL_SSL listeners on fixed ports."""

    PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")

    def __init__(self, data_dir: Path, certs: Path, client_auth: str, host: str = "127.0.0.1",
                 cluster_options: tuple = ()):
        self.ports = {p: free_port(host) for p in self.PROTOCOLS}
        self.host = host
        listeners = ",".join(f"{p}://{host}:{port}" for p, port in self.ports.items())
        data_dir.mkdir(parents=True, exist_ok=True)
        self.node = VltavaBroker(
            data_dir, True, 1, None, host=host, start=False, listeners=listeners,
            cluster_options=(*cluster_options,
                             "--ssl-keystore-location", str(certs / "server-keystore.pem"),
                             "--ssl-truststore-location", str(certs / "ca.pem"),
                             "--ssl-client-auth", client_auth,
                             "--plain-sasl-jaas-config", JAAS_USERS))

    def address(self, protocol: str) -> str:
        return f"{self.host}:{self.ports[protocol]}"

    def start(self) -> "SecureBroker":
        self.node.launch()
        self.node.await_listening()
        return self


def start_secure(data_dir: Path, certs: Path, client_auth: str):
    if IS_VLTAVA:
        return SecureBroker(data_dir, certs, client_auth).start()
    return SecureKafka(data_dir, certs, client_auth)


@pytest.fixture
def secure_broker(tmp_path, certs):
    """Client certificates requested, not required."""
    broker = start_secure(tmp_path / "data", certs, "requested")
    yield broker
    broker.node.stop()


def tls(certs: Path, with_certificate: bool = False) -> dict:
    config = {"ssl.ca.location": str(certs / "ca.pem")}
    if with_certificate:
        config.update({"ssl.certificate.location": str(certs / "client.pem"),
                       "ssl.key.location": str(certs / "client.key")})
    return config


def sasl(mechanism: str, user: str, password: str) -> dict:
    return {"sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password}


def round_trip(bootstrap: str, protocol: str, extra: dict) -> None:
    """Produces one record and consumes it back through `bootstrap` with `protocol`."""
    topic = f"sec-{uuid.uuid4().hex[:12]}"
    value = f"over {protocol}".encode()
    config = {"bootstrap.servers": bootstrap, "security.protocol": protocol, **extra}
    errors = []
    producer = Producer({**config, "message.timeout.ms": int(ROUND_TRIP_TIMEOUT_S * 1000),
                         "error_cb": errors.append})
    delivered = []
    producer.produce(topic, value, on_delivery=lambda err, msg: delivered.append(err))
    assert producer.flush(ROUND_TRIP_TIMEOUT_S) == 0, f"not delivered over {protocol}: {errors}"
    assert delivered == [None], f"delivery over {protocol} failed: {delivered} {errors}"
    consumer = Consumer({**config, "group.id": topic, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + ROUND_TRIP_TIMEOUT_S
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                assert message.value() == value
                return
        pytest.fail(f"nothing consumed over {protocol} within {ROUND_TRIP_TIMEOUT_S}s")
    finally:
        consumer.close()


def authentication_error(bootstrap: str, protocol: str, extra: dict) -> KafkaError:
    """The error a client reports when its credentials are refused."""
    errors = []
    admin = AdminClient({"bootstrap.servers": bootstrap, "security.protocol": protocol,
                         "error_cb": errors.append, **extra})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=AUTH_FAILURE_TIMEOUT_S / 2)
    deadline = time.monotonic() + AUTH_FAILURE_TIMEOUT_S
    while time.monotonic() < deadline:
        auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
        if auth:
            return auth[0]
        admin.poll(0.2)
    pytest.fail(f"no authentication error within {AUTH_FAILURE_TIMEOUT_S}s: {errors}")


def test_produce_and_consume_over_ssl(secure_broker, certs):
    round_trip(secure_broker.address("SSL"), "SSL", tls(certs))


def test_produce_and_consume_over_mtls_and_a_client_without_certificate_is_refused(tmp_path,
                                                                                     certs):
    broker = start_secure(tmp_path / "data", certs, "required")
    try:
        round_trip(broker.address("SSL"), "SSL", tls(certs, with_certificate=True))
        errors = []
        admin = AdminClient({"bootstrap.servers": broker.address("SSL"),
                             "security.protocol": "SSL", "error_cb": errors.append,
                             **tls(certs)})
        with pytest.raises(KafkaException):
            admin.list_topics(timeout=AUTH_FAILURE_TIMEOUT_S / 2)
        # The TLS alert refusing it: rustls sends TLS 1.3's certificate_required, Kafka's JSSE
        # bad_certificate.
        refusals = ("certificate required", "bad certificate")
        deadline = time.monotonic() + AUTH_FAILURE_TIMEOUT_S
        while not any(r in e.str() for e in errors for r in refusals):
            assert time.monotonic() < deadline, f"no TLS alert refusing the client: {errors[:3]}"
            admin.poll(0.2)
    finally:
        broker.node.stop()


def test_produce_and_consume_over_sasl_plaintext_with_plain(secure_broker):
    round_trip(secure_broker.address("SASL_PLAINTEXT"), "SASL_PLAINTEXT",
               sasl("PLAIN", "alice", "alice-secret"))


def test_a_wrong_plain_password_fails_authentication(secure_broker):
    error = authentication_error(secure_broker.address("SASL_PLAINTEXT"), "SASL_PLAINTEXT",
                                 sasl("PLAIN", "alice", "wrong"))
    assert "Invalid username or password" in error.str()


def alter_scram_user(bootstrap: str, user: str, mechanism: ScramMechanism, password: str):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
        user, ScramCredentialInfo(mechanism, 8192), password.encode())])
    for future in futures.values():
        assert future.result(timeout=ROUND_TRIP_TIMEOUT_S) is None


def test_scram_sha_256_over_sasl_ssl_with_a_user_from_the_admin_client(secure_broker, certs):
    bootstrap = secure_broker.address("PLAINTEXT")
    alter_scram_user(bootstrap, "carol", ScramMechanism.SCRAM_SHA_256, "carol-secret")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    described = admin.describe_user_scram_credentials(["carol"])
    infos = described["carol"].result(timeout=ROUND_TRIP_TIMEOUT_S).scram_credential_infos
    assert [(i.mechanism, i.iterations) for i in infos] == [(ScramMechanism.SCRAM_SHA_256, 8192)]
    round_trip(secure_broker.address("SASL_SSL"), "SASL_SSL",
               {**tls(certs), **sasl("SCRAM-SHA-256", "carol", "carol-secret")})
    error = authentication_error(secure_broker.address("SASL_SSL"), "SASL_SSL",
                                 {**tls(certs), **sasl("SCRAM-SHA-256", "carol", "wrong")})
    assert "invalid credentials with SASL mechanism SCRAM-SHA-256" in error.str()


@pytest.fixture(scope="module")
def kafka_classpath() -> str:
    result = subprocess.run([str(KAFKA_REFERENCE), "classpath"], capture_output=True, text=True,
                            timeout=FETCH_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"kafka-reference classpath failed: {result.stderr}"
    return result.stdout.strip().splitlines()[-1]


def kafka_configs(classpath: str, bootstrap: str, *args: str) -> str:
    """Kafka 4.4's kafka-configs (ConfigCommand); its stdout."""
    result = subprocess.run(
        ["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", classpath,
         "org.apache.kafka.tools.ConfigCommand", "--bootstrap-server", bootstrap, *args],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"kafka-configs {args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_scram_sha_512_over_sasl_ssl_with_a_user_from_kafka_configs(secure_broker, certs,
                                                                    kafka_classpath):
    bootstrap = secure_broker.address("PLAINTEXT")
    out = kafka_configs(kafka_classpath, bootstrap, "--alter", "--add-config",
                        "SCRAM-SHA-512=[password=dave-secret]", "--entity-type", "users",
                        "--entity-name", "dave")
    assert "Completed updating config for user dave" in out
    out = kafka_configs(kafka_classpath, bootstrap, "--describe", "--entity-type", "users",
                        "--entity-name", "dave")
    assert "SCRAM-SHA-512=iterations=4096" in out
    round_trip(secure_broker.address("SASL_SSL"), "SASL_SSL",
               {**tls(certs), **sasl("SCRAM-SHA-512", "dave", "dave-secret")})
    error = authentication_error(secure_broker.address("SASL_SSL"), "SASL_SSL",
                                 {**tls(certs), **sasl("SCRAM-SHA-512", "dave", "wrong")})
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in error.str()
    kafka_configs(kafka_classpath, bootstrap, "--alter", "--delete-config", "SCRAM-SHA-512",
                  "--entity-type", "users", "--entity-name", "dave")
    authentication_error(secure_broker.address("SASL_SSL"), "SASL_SSL",
                         {**tls(certs), **sasl("SCRAM-SHA-512", "dave", "dave-secret")})


def test_scram_users_survive_a_restart(secure_broker):
    bootstrap = secure_broker.address("PLAINTEXT")
    alter_scram_user(bootstrap, "erin", ScramMechanism.SCRAM_SHA_512, "erin-secret")
    secure_broker.node.restart()
    round_trip(secure_broker.address("SASL_PLAINTEXT"), "SASL_PLAINTEXT",
               sasl("SCRAM-SHA-512", "erin", "erin-secret"))


@pytest.mark.vltava_only
def test_a_scram_user_is_accepted_by_every_broker_of_a_cluster(tmp_path, certs):
    hosts = [f"127.0.0.{n}" for n in (1, 2, 3)]
    controllers = [f"{host}:{free_port(host)}" for host in hosts]
    voters = ",".join(f"{n}@{address}" for n, address in enumerate(controllers, 1))
    nodes = [SecureBroker(tmp_path / f"node-{n}", certs, "none", host=host, cluster_options=(
        "--node-id", str(n), "--controller-listen", controller,
        "--controller-quorum-voters", voters))
        for n, (host, controller) in enumerate(zip(hosts, controllers), 1)]
    try:
        for node in nodes:  # all at once: a node serves once a majority of voters runs
            node.node.launch()
        for node in nodes:
            node.node.await_listening()
        alter_scram_user(nodes[0].address("PLAINTEXT"), "frank", ScramMechanism.SCRAM_SHA_512,
                         "frank-secret")
        for node in nodes:
            # Each broker applies the metadata record on its own; it may be a moment behind.
            deadline = time.monotonic() + CLUSTER_PROPAGATION_S
            while True:
                admin = AdminClient({"bootstrap.servers": node.address("SASL_PLAINTEXT"),
                                     "security.protocol": "SASL_PLAINTEXT",
                                     **sasl("SCRAM-SHA-512", "frank", "frank-secret")})
                try:
                    metadata = admin.list_topics(timeout=5)
                    break
                except Exception as error:  # noqa: BLE001 - retried until the deadline
                    if time.monotonic() > deadline:
                        pytest.fail(f"{node.host} refused frank: {error}")
            # Metadata names every broker by its address on the listener the client used.
            ports = {b.host + ":" + str(b.port) for b in metadata.brokers.values()}
            assert ports == {n.address("SASL_PLAINTEXT") for n in nodes}
            described = admin.describe_cluster().result(timeout=ROUND_TRIP_TIMEOUT_S)
            assert {f"{b.host}:{b.port}" for b in described.nodes} == ports
    finally:
        for node in nodes:
            node.node.kill9()

