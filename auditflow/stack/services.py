"""The local services: how each is prepared, started, health-checked and initialised.

Each service is a real release started as a plain process on 127.0.0.1. A service knows its
ports, the command that runs it in the foreground (so its pid is ours to stop), a health
check, and what to do once healthy (topics, buckets, compatibility rules).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import sys
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from auditflow import credentials, flink, kafka, registry, s3
from auditflow.config import Config
from auditflow.stack import artifacts, tls, trino_access
from auditflow.stack.process import StackError, port_open

PYFLINK_HOME = flink.PYFLINK_HOME


@dataclass
class Context:
    cfg: Config
    data_dir: Path
    cache_dir: Path
    say: artifacts.Say
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.cfg.get("stack.host")

    @property
    def pki(self) -> tls.Pki:
        """The local CA's files (made by `stack up` before any service is prepared)."""
        return tls.local_pki(self.cfg)

    def identity(self, role: str) -> credentials.Identity:
        return credentials.identity(self.cfg, role)

    def service_dir(self, name: str) -> Path:
        d = self.data_dir / name
        d.mkdir(parents=True, exist_ok=True)
        return d


def _port(url: str) -> int:
    return int(urlparse(url if "//" in url else f"//{url}").port)


def _http_ok(url: str, timeout: float = 2) -> bool:
    try:
        return requests.get(url, timeout=timeout).status_code < 500
    except requests.RequestException:
        return False


def _java25(ctx: Context) -> str:
    home = Path(ctx.cfg.get("stack.java25_home"))
    if not (home / "bin" / "java").exists():
        raise StackError(
            f"no Java at {home}/bin/java: Apicurio Registry 3.3 needs Java 21+ and Trino 476 "
            "Java 24+. Install a JDK 25 and set stack.java25_home (or AUDITFLOW_STACK__JAVA25_HOME)"
        )
    return str(home)


def _java(home: str | None = None) -> str:
    if home:
        return str(Path(home) / "bin" / "java")
    return shutil.which("java") or "java"


class Service(ABC):
    name = ""
    description = ""

    @abstractmethod
    def ports(self, ctx: Context) -> list[int]:
        """The ports it listens on, checked free before it starts."""

    def prepare(self, ctx: Context) -> None:
        """Write configuration and one-time state (formatting) before the first start."""
        return None  # optional: most services need nothing here

    @abstractmethod
    def command(self, ctx: Context) -> tuple[list[str], dict[str, str]]:
        """The command line and extra environment that start it in the foreground."""

    @abstractmethod
    def healthy(self, ctx: Context) -> bool:
        """Whether it answers as a client would use it."""

    def after_start(self, ctx: Context) -> None:
        """Idempotent initialisation once healthy (topics, buckets, rules)."""
        return None  # optional


class Kafka(Service):
    name = "kafka"
    description = "Apache Kafka 4.1 broker + controller (KRaft), SASL_SSL/SCRAM clients, ACLs"

    def ports(self, ctx: Context) -> list[int]:
        return [_port(ctx.cfg.get("kafka.bootstrap_servers")), ctx.cfg.get("kafka.controller_port")]

    def _props(self, ctx: Context) -> Path:
        return ctx.service_dir(self.name) / "server.properties"

    def prepare(self, ctx: Context) -> None:
        d = ctx.service_dir(self.name)
        broker, controller = self.ports(ctx)
        h = ctx.host
        pki = ctx.pki
        admin_user, admin_secret = ctx.identity("admin").at("kafka")
        # PEM stores (Kafka reads them directly): the server key + chain, the local CA
        ssl = ["ssl.keystore.type=PEM", f"ssl.keystore.location={pki.server_bundle()}",
               "ssl.truststore.type=PEM", f"ssl.truststore.location={pki.ca_cert}",
               "ssl.enabled.protocols=TLSv1.3,TLSv1.2"]
        jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required '
                f'username="{admin_user}" password="{admin_secret}";')
        tls.write_private(self._props(ctx), "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{h}:{controller}",
            # clients: SASL (SCRAM-SHA-512) over TLS only. The controller listener: TLS with a
            # client certificate of the local CA required (the broker half of this node presents
            # the server certificate), so nothing anonymous reaches either port.
            f"listeners=SASL_SSL://{h}:{broker},CONTROLLER://{h}:{controller}",
            f"advertised.listeners=SASL_SSL://{h}:{broker}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=SASL_SSL",
            "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL",
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
            f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}",
            *ssl,
            "listener.name.controller.ssl.client.auth=required",
            # deny by default: only ACLs (auditflow/roles.toml, applied by after_start) grant
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            f"super.users=User:{admin_user};User:{_cert_dn(pki.server_cert)}",
            f"log.dirs={d / 'data'}",
            "num.partitions=3",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            # Flink's exactly-once sink holds transactions open up to its own timeout (1 h)
            "transaction.max.timeout.ms=7200000",
            f"message.max.bytes={ctx.cfg.get('kafka.max_record_bytes')}",
            "",
        ]).encode())
        (d / "log4j2.properties").write_text(
            "rootLogger.level=INFO\nrootLogger.appenderRef.out.ref=out\n"
            "appender.out.type=Console\nappender.out.name=out\n"
            "appender.out.layout.type=PatternLayout\n"
            "appender.out.layout.pattern=[%d] %p %m (%c)%n\n"
            "logger.kafka.name=kafka\nlogger.kafka.level=WARN\n"
            "logger.state.name=state.change.logger\nlogger.state.level=WARN\n"
        )
        if not (d / "data" / "meta.properties").exists():
            cluster_id = "-"
            while cluster_id.startswith("-"):  # StorageTool would read a leading '-' as an option
                cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            ctx.say(f"formatting Kafka storage (cluster id {cluster_id})")
            import subprocess

            # the admin's SCRAM credential goes into the metadata log at format time; StorageTool
            # takes it only as an argument, so the arguments go in a 0600 java @argfile (the
            # launcher expands it: `ps` shows only "@<file>"), removed right after
            argfile = d / "format.args"
            tls.write_private(argfile, "\n".join([
                "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self._props(ctx)),
                "--add-scram", f"SCRAM-SHA-512=[name={admin_user},password={admin_secret}]", "",
            ]).encode())
            try:
                proc = subprocess.run([*self._java_cmd(ctx), f"@{argfile}"], capture_output=True, text=True)
            finally:
                argfile.unlink()
            if proc.returncode != 0:
                raise StackError(f"kafka storage format failed: {proc.stdout}{proc.stderr}")

    def _java_cmd(self, ctx: Context) -> list[str]:
        d = ctx.service_dir(self.name)
        return [
            _java(), "-Xms256m", "-Xmx768m", "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={d / 'log4j2.properties'}",
            "-cp", str(ctx.paths["kafka"] / "*"),
        ]

    def command(self, ctx: Context) -> tuple[list[str], dict[str, str]]:
        return [*self._java_cmd(ctx), "kafka.Kafka", str(self._props(ctx))], {}

    def healthy(self, ctx: Context) -> bool:
        return port_open(ctx.host, self.ports(ctx)[0]) and kafka.reachable(ctx.cfg, "admin")

    def after_start(self, ctx: Context) -> None:
        file = ctx.cfg.get("kafka.topics_file")
        changes = kafka.apply_topics(ctx.cfg, kafka.load_topics(Path(file) if file else None))
        created = [c for c in changes if c.startswith(("created", "grew"))]
        if created:
            ctx.say("kafka topics: " + ", ".join(created))
        users = kafka.apply_users(ctx.cfg)
        if users:
            ctx.say("kafka users: " + ", ".join(users))
        acls = kafka.apply_acls(ctx.cfg)
        if acls:
            ctx.say(f"kafka ACLs: {acls}")


def _cert_dn(cert: Path) -> str:
    """A certificate's subject as Kafka's SSL principal builder names it (RFC 2253)."""
    from cryptography import x509

    return x509.load_pem_x509_certificate(cert.read_bytes()).subject.rfc4514_string()


def _seaweedfs_security(ctx: Context) -> Path:
    """security.toml (read by `weed server` from its working directory): the ports behind the S3
    gateway take no anonymous request. Master, volume and filer speak HTTPS and gRPC with mutual
    TLS (the stack's certificate, which has clientAuth too, is each one's client and server
    identity), volume writes and filer reads/writes need a JWT signed with a key only the servers
    hold, the UIs and directory listings are off. Without this the filer's HTTP API on 8888 would
    read, write and delete any object, Object Lock and S3 identities notwithstanding. Also the
    SSE-S3 key. 0600: it holds the signing keys."""
    d = ctx.service_dir(SeaweedFS.name)
    path = d / "security.toml"
    keys_file = d / "security-keys.json"
    if not keys_file.exists():
        names = ("volume_write", "filer_write", "filer_read", "sse")
        tls.write_private(keys_file, json.dumps({n: secrets.token_hex(32) for n in names}).encode())
    keys = json.loads(keys_file.read_text())
    pki = ctx.pki
    cert, key, ca = pki.server_cert, pki.server_key, pki.ca_cert
    pair = f'cert = "{cert}"\nkey = "{key}"\n'
    lines = [
        f'[jwt.signing]\nkey = "{keys["volume_write"]}"\nexpires_after_seconds = 10\n',
        f'[jwt.filer_signing]\nkey = "{keys["filer_write"]}"\nexpires_after_seconds = 10\n',
        f'[jwt.filer_signing.read]\nkey = "{keys["filer_read"]}"\nexpires_after_seconds = 10\n',
        "[access]\nui = false\n", "[filer.expose_directory_metadata]\nenabled = false\n",
        f'[grpc]\nca = "{ca}"\n',
        *(f"[grpc.{c}]\n{pair}" for c in ("master", "volume", "filer", "s3", "client")),
        f'[https.client]\nenabled = true\n{pair}ca = "{ca}"\n',
        *(f'[https.{c}]\n{pair}ca = "{ca}"\n' for c in ("master", "volume", "filer")),
        f'[s3.sse]\nkey = "{keys["sse"]}"\n',
    ]
    tls.write_private(path, "\n".join(lines).encode())
    return path


class SeaweedFS(Service):
    name = "s3"
    description = "SeaweedFS S3 gateway with Object Lock (master, volume, filer, s3 in one process)"

    def ports(self, ctx: Context) -> list[int]:
        internal = [int(p) for p in ctx.cfg.get("s3.seaweedfs_ports")]
        return [_port(ctx.cfg.get("s3.endpoint")), *internal, *(p + 10000 for p in internal)]

    def prepare(self, ctx: Context) -> None:
        d = ctx.service_dir(self.name)
        (d / "data").mkdir(exist_ok=True)
        # one identity per role with its own keys and an IAM policy (auditflow/roles.toml);
        # 0600: it holds every role's S3 secret
        tls.write_private(d / "identities.json", json.dumps(s3.identities_config(ctx.cfg), indent=2).encode())
        _seaweedfs_security(ctx)

    def command(self, ctx: Context) -> tuple[list[str], dict[str, str]]:
        d = ctx.service_dir(self.name)
        h = ctx.host
        s3_port, master, volume, filer = self.ports(ctx)[:4]
        return [
            str(ctx.paths["seaweedfs"]), "server",
            f"-ip={h}", f"-ip.bind={h}", f"-dir={d / 'data'}",
            f"-master.port={master}", "-master.volumeSizeLimitMB=256",
            f"-volume.port={volume}", "-volume.max=0",
            "-filer", f"-filer.port={filer}",
            "-s3", f"-s3.port={s3_port}", f"-s3.config={d / 'identities.json'}",
            # HTTPS only on the S3 port (no -s3.port.https: the one port is TLS, plain HTTP fails)
            f"-s3.cert.file={ctx.pki.server_cert}", f"-s3.key.file={ctx.pki.server_key}",
            # no Iceberg/Lance endpoints; a typo in a bucket name must not create a bucket
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.autoCreateBucket=false",
        ], {}

    def healthy(self, ctx: Context) -> bool:
        return port_open(ctx.host, self.ports(ctx)[0]) and s3.reachable(ctx.cfg)

    def after_start(self, ctx: Context) -> None:
        for change in s3.ensure_buckets(ctx.cfg):
            ctx.say(f"s3: {change}")


def flink_bin(name: str) -> Path:
    return PYFLINK_HOME / "bin" / name


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat: dict = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _link_all(src_files: list[Path], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.iterdir():
        old.unlink()
    for f in src_files:
        (dest / f.name).symlink_to(f)


def _sha1(cert: Path) -> str:
    """The SHA-1 fingerprint of the first certificate in a PEM file (Flink's cert.fingerprint)."""
    return x509.load_pem_x509_certificates(cert.read_bytes())[0].fingerprint(hashes.SHA1()).hex(":")


# the local CA's keys are EC (P-256): Flink's default suites (ECDHE_RSA) would find no common cipher
FLINK_SSL_CIPHERS = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"


def _flink_ssl(ctx: Context) -> tuple[dict, dict]:
    """Flink's TLS settings: (the cluster's, the `flink run` CLI's).

    Internal (Pekko RPC, blob server, netty shuffle): every node has the server certificate and
    accepts a peer only with exactly it (pinned by fingerprint). REST: TLS with mutual
    authentication; the server accepts exactly the operator's client certificate (pinned), the CLI
    presents it and trusts the CA. A pin, not a truststore of one leaf: Java clients send their
    certificate only to a server that names its issuer, and a pin names none. The store password
    is in the 0600 config.yaml (Flink reads it from nowhere else)."""
    pki = ctx.pki
    password = pki.store_password()
    server = pki.pkcs12("flink-server", pki.server_cert, pki.server_key)
    op_cert, op_key = pki.client("operator")
    # Flink requires a truststore even where a fingerprint decides
    trust = {"truststore": str(pki.truststore()), "truststore-password": password}
    common = {"security.ssl.algorithms": FLINK_SSL_CIPHERS, "security.ssl.protocol": "TLSv1.2",
              "security.ssl.rest.enabled": True, "security.ssl.rest.authentication-enabled": True}
    keystore = {"keystore": str(server), "keystore-password": password, "key-password": password}
    cluster = {
        **common,
        "security.ssl.internal.enabled": True,
        **{f"security.ssl.internal.{k}": v for k, v in {**keystore, **trust}.items()},
        "security.ssl.internal.cert.fingerprint": _sha1(pki.server_cert),
        **{f"security.ssl.rest.{k}": v for k, v in {**keystore, **trust}.items()},
        "security.ssl.rest.cert.fingerprint": _sha1(op_cert),
    }
    operator = {"keystore": str(pki.pkcs12("flink-operator", op_cert, op_key)),
                "keystore-password": password, "key-password": password}
    client = {**common, **{f"security.ssl.rest.{k}": v for k, v in {**operator, **trust}.items()}}
    return cluster, client


def _write_flink_conf(ctx: Context) -> None:
    """conf/ for the JobManager and the TaskManager, client-conf/ for `flink run`, from the auditflow
    config; written by each so a restarted TaskManager picks up changed settings. Both hold store
    passwords (conf/ also the S3 keys): 0600 files in 0700 directories."""
    home = ctx.service_dir("flink")
    conf, client_conf = flink.conf_dirs(ctx.data_dir)
    for d in (conf, client_conf):
        d.mkdir(exist_ok=True)
        os.chmod(d, 0o700)
        for f in (PYFLINK_HOME / "conf").iterdir():
            if f.name != "config.yaml" and f.is_file():
                shutil.copy(f, d / f.name)
    s3_user, s3_secret = ctx.identity("archive").at("s3")
    fl = ctx.cfg.section("flink")
    h = ctx.host
    settings = {
        "jobmanager.rpc.address": h, "jobmanager.bind-host": h,
        "jobmanager.rpc.port": int(ctx.cfg.get("flink.rpc_port")),
        "taskmanager.bind-host": h, "taskmanager.host": h,
        "rest.address": h, "rest.bind-address": h, "rest.port": _port(ctx.cfg.get("flink.rest_url")),
        "jobmanager.memory.process.size": "1200m",
        "taskmanager.memory.process.size": "3200m",
        # every PyFlink job submission loads the connector classes again and a session
        # cluster runs many (tests, restarts): the 256m default ends in Metaspace OOM
        "taskmanager.memory.jvm-metaspace.size": "1024m",
        # Kafka clients read through NIO, which keeps a direct buffer per thread as large as the
        # largest read: a source catching up on a backlog (a million records) outgrew the 128m
        # framework default (OutOfMemoryError: Direct buffer memory)
        "taskmanager.memory.task.off-heap.size": "256m",
        "env.java.opts.taskmanager": "-Djdk.nio.maxCachedBufferSize=1048576",
        # S3A (AWS SDK) trusts the JVM's default truststore: the stack's CA in a JKS store, which
        # Java reads without a password (no secret in argv; the CA certificate is public)
        "env.java.opts.all": f"-Djavax.net.ssl.trustStore={jks_truststore(ctx)} "
                             "-Djavax.net.ssl.trustStoreType=JKS",  # after the defaults', below
        "taskmanager.numberOfTaskSlots": fl["taskmanager_slots"],
        "parallelism.default": fl["parallelism"],
        "execution.checkpointing.dir": f"file://{home / 'checkpoints'}",
        "execution.checkpointing.savepoint-dir": f"file://{home / 'savepoints'}",
        "web.upload.dir": str(home / "uploads"),
        "io.tmp.dirs": str(home / "tmp"),
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        # S3 for FileSink and checkpoints (flink-s3-fs-hadoop plugin), as the archive role
        **flink.s3_options(ctx.cfg),
        "s3.access-key": s3_user,
        "s3.secret-key": s3_secret,
    }
    (home / "tmp").mkdir(exist_ok=True)
    # the distribution's defaults (JVM --add-opens among them) overlaid with ours
    defaults = _flatten(yaml.safe_load((PYFLINK_HOME / "conf" / "config.yaml").read_text()))
    # the distribution's JVM options (--add-opens ...) stay, ours after them
    ours = settings["env.java.opts.all"]
    settings["env.java.opts.all"] = f"{defaults.get('env.java.opts.all', '')} {ours}".strip()
    cluster_ssl, client_ssl = _flink_ssl(ctx)
    cluster = {**defaults, **settings, **cluster_ssl}
    # the CLI reads no S3 (the JobManager restores checkpoints): none of the cluster's S3 keys
    client = {k: v for k, v in {**defaults, **settings}.items()
              if not k.endswith(("access-key", "secret-key", "access.key", "secret.key"))}
    head = "# written by `auditflow stack up` from the auditflow config; edit that instead\n"
    for path, values in ((conf, cluster), (client_conf, {**client, **client_ssl})):
        tls.write_private(path / "config.yaml",
                          (head + yaml.safe_dump(values, sort_keys=True, width=10_000)).encode())


def jks_truststore(ctx: Context) -> Path:
    """The stack's CA in a passwordless-readable JKS store (tls.Pki.truststore)."""
    if shutil.which("keytool"):
        return ctx.pki.truststore(storetype="JKS")
    return ctx.pki.truststore(ctx.cfg.get("stack.java25_home"), storetype="JKS")


class FlinkJobManager(Service):
    name = "flink-jobmanager"
    description = "Apache Flink 2.2 session cluster: JobManager + REST (from the PyFlink wheel)"

    def ports(self, ctx: Context) -> list[int]:
        return [_port(ctx.cfg.get("flink.rest_url")), int(ctx.cfg.get("flink.rpc_port"))]

    def prepare(self, ctx: Context) -> None:
        home = ctx.service_dir("flink")
        jars = sorted((PYFLINK_HOME / "lib").glob("*.jar"))
        for group in ("flink-connectors", "flink-parquet"):
            jars += sorted(ctx.paths[group].glob("*.jar"))
        _link_all(jars, home / "lib")
        _link_all(sorted(ctx.paths["flink-s3"].glob("*.jar")), home / "plugins" / "s3-fs-hadoop")
        (home / "log").mkdir(exist_ok=True)
        _write_flink_conf(ctx)

    def command(self, ctx: Context) -> tuple[list[str], dict[str, str]]:
        return ["bash", str(flink_bin("jobmanager.sh")), "start-foreground"], flink.install_env(ctx.data_dir)

    def healthy(self, ctx: Context) -> bool:
        try:  # over mutual TLS, as every client
            return flink.rest(ctx.cfg).get("/config", timeout=2).status_code < 500
        except OSError:  # requests' errors, and no CA file yet (before the first `stack up`)
            return False


class FlinkTaskManager(Service):
    name = "flink-taskmanager"
    description = "Apache Flink 2.2 TaskManager (runs the jobs' Python workers)"

    def ports(self, ctx: Context) -> list[int]:
        return []

    def prepare(self, ctx: Context) -> None:
        _write_flink_conf(ctx)

    def command(self, ctx: Context) -> tuple[list[str], dict[str, str]]:
        # restarted when it crashes (auditflow/stack/supervise.py says why)
        cmd = ["bash", str(flink_bin("taskmanager.sh")), "start-foreground"]
        supervised = [sys.executable, "-m", "auditflow.stack.supervise", self.name, "--", *cmd]
        return supervised, flink.install_env(ctx.data_dir)

    def healthy(self, ctx: Context) -> bool:
        try:
            r = flink.rest(ctx.cfg).get("/overview", timeout=2)
            return r.ok and r.json().get("taskmanagers", 0) >= 1
        except (OSError, ValueError):  # as the JobManager's
            return False


# Keycloak options fixed when its distribution is built (`kc.sh build`, once per cache); the
# rest are given at each start. Health stays off: it would open a management port of its own.
KEYCLOAK_BUILD = ["--db=dev-file", "--health-enabled=false", "--metrics-enabled=false"]
KEYCLOAK_JVM = [
    "-XX:MetaspaceSize=96M", "-XX:MaxMetaspaceSize=256m", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
    "-Dfile.encoding=UTF-8", "-Duser.language=en", "-Duser.country=US",
    "--add-opens=java.base/java.util=ALL-UNNAMED", "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.security=ALL-UNNAMED", "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED", "-Djava.util.logging.manager=org.jboss.logmanager.LogManager",
    "-Dpicocli.disable.closures=true",
    "-Djava.util.concurrent.ForkJoinPool.common.threadFactory="
    "io.quarkus.bootstrap.forkjoin.QuarkusForkJoinWorkerThreadFactory",
]
REGISTRY_ROLES = {"admin": "sr-admin", "developer": "sr-developer", "readonly": "sr-readonly"}


def registry_grants() -> dict[str, str]:
    """{client id: Apicurio role} from roles.toml's [roles.<role>.registry] tables; a per-tenant
    role has one client for all its tenants (auditflow.registry.identity)."""
    grants = {}
    for name, spec in credentials.roles().items():
        access = spec.get("registry", {}).get("access")
        if access is None:
            continue
        if access not in REGISTRY_ROLES:
            raise StackError(f"{credentials.ROLES_FILE}: roles.{name}.registry.access = {access!r}; "
                             f"expected one of {', '.join(REGISTRY_ROLES)}")
        grants[name] = REGISTRY_ROLES[access]
    return grants


def keycloak_realm(realm: str, clients: dict[str, tuple[str, str]]) -> dict:
    """A realm of confidential clients (client-credentials grant only), one per role, each one's
    service account holding its registry role. ``clients``: {client id: (secret, realm role)}."""
    return {
        "realm": realm, "enabled": True, "sslRequired": "all",
        "accessTokenLifespan": 300,
        "roles": {"realm": [{"name": r} for r in REGISTRY_ROLES.values()]},
        "clients": [{
            "clientId": cid, "enabled": True, "protocol": "openid-connect", "publicClient": False,
            "clientAuthenticatorType": "client-secret", "secret": secret,
            "serviceAccountsEnabled": True, "standardFlowEnabled": False, "implicitFlowEnabled": False,
            "directAccessGrantsEnabled": False, "fullScopeAllowed": True,
        } for cid, (secret, _role) in sorted(clients.items())],
        "users": [{
            "username": f"service-account-{cid}", "enabled": True, "serviceAccountClientId": cid,
            "realmRoles": [role],
        } for cid, (_secret, role) in sorted(clients.items())],
    }


class Keycloak(Service):
    name = "keycloak"
    description = "Keycloak 26 (OIDC provider of the schema registry, HTTPS only)"

    def ports(self, ctx: Context) -> list[int]:
        return [int(ctx.cfg.get("registry.keycloak_port"))]

    def _home(self, ctx: Context) -> Path:
        return ctx.service_dir(self.name) / "home"

    def prepare(self, ctx: Context) -> None:
        dist = artifacts.extract(artifacts.one(ctx.paths["keycloak"], "*.zip"), ctx.cache_dir / "keycloak",
                                 ctx.say)
        java_home = _java25(ctx)
        stamp = dist / ".auditflow-build"
        if not stamp.exists() or stamp.read_text().split() != KEYCLOAK_BUILD:
            ctx.say("building the Keycloak distribution once (about a minute)")
            import subprocess

            # by bash: the zip keeps no execute bits
            proc = subprocess.run(["bash", str(dist / "bin" / "kc.sh"), "build", *KEYCLOAK_BUILD],
                                  capture_output=True, text=True, env={**os.environ, "JAVA_HOME": java_home})
            if proc.returncode != 0:
                raise StackError(f"kc.sh build failed: {(proc.stdout + proc.stderr)[-2000:]}")
            stamp.write_text(" ".join(KEYCLOAK_BUILD) + "\n")
        ctx.paths["keycloak-dist"] = dist
        # a home of its own per stack (database, realm import); the built server from the cache
        home = self._home(ctx)
        for sub in ("conf", "providers", "data/import"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(home / "data", 0o700)
        lib = home / "lib"
        if lib.is_symlink() and lib.resolve() != (dist / "lib").resolve():
            lib.unlink()
        if not lib.exists():
            lib.symlink_to(dist / "lib")
        clients = {}
        for cid, role in registry_grants().items():
            spec = credentials.roles()[cid]
            if spec.get("per_tenant"):
                cid, secret = registry.shared_identity(ctx.cfg, cid)
            else:
                cid, secret = ctx.identity(cid).at("registry")
            clients[cid] = (secret, role)
        # holds every client's secret: 0600 in a 0700 folder. Keycloak imports a realm only when
        # it has none, and everything in its database derives from roles.toml and the secrets:
        # when they changed, the database goes and the realm is imported afresh
        realm_file = home / "data" / "import" / "auditflow-realm.json"
        realm = json.dumps(keycloak_realm(ctx.cfg.get("registry.realm"), clients), sort_keys=True).encode()
        if not realm_file.exists() or realm_file.read_bytes() != realm:
            shutil.rmtree(home / "data" / "h2", ignore_errors=True)
            tls.write_private(realm_file, realm)

    def command(self, ctx: Context) -> tuple[list[str], dict[str, str]]:
        home, pki, port = self._home(ctx), ctx.pki, self.ports(ctx)[0]
        _user, admin_secret = ctx.identity("admin").at("registry")
        return [
            _java(_java25(ctx)), "-Xms64m", "-Xmx384m", *KEYCLOAK_JVM,
            f"-Dkc.home.dir={home}", f"-Djboss.server.config.dir={home / 'conf'}",
            "-cp", str(home / "lib" / "quarkus-run.jar"), "io.quarkus.bootstrap.runner.QuarkusEntryPoint",
            "start", "--optimized", "--import-realm", "--cache=local",
            "--http-enabled=false", f"--http-host={ctx.host}", f"--https-port={port}",
            f"--https-certificate-file={pki.server_cert}", f"--https-certificate-key-file={pki.server_key}",
            f"--hostname=https://{ctx.host}:{port}",
        ], {
            # the bootstrap (master realm) admin: from the environment, never the command line
            "KC_BOOTSTRAP_ADMIN_USERNAME": "admin", "KC_BOOTSTRAP_ADMIN_PASSWORD": admin_secret,
        }

    def issuer(self, ctx: Context) -> str:
        return f"https://{ctx.host}:{self.ports(ctx)[0]}/realms/{ctx.cfg.get('registry.realm')}"

    def healthy(self, ctx: Context) -> bool:
        try:
            r = requests.get(self.issuer(ctx) + "/.well-known/openid-configuration", timeout=2,
                             verify=str(ctx.pki.ca_cert))
            return r.status_code == 200
        except requests.RequestException:
            return False


class Registry(Service):
    name = "registry"
    description = "Apicurio Registry 3.3 with the Confluent-compatible API (HTTPS, OIDC roles)"

    def ports(self, ctx: Context) -> list[int]:
        return [_port(ctx.cfg.get("registry.url")), int(ctx.cfg.get("registry.management_port"))]

    def prepare(self, ctx: Context) -> None:
        ctx.paths["apicurio-app"] = artifacts.extract(
            artifacts.one(ctx.paths["apicurio"], "*.tar.gz"),
            ctx.cache_dir / "apicurio-registry", ctx.say,
        )
        d = ctx.service_dir(self.name)
        pki, java_home = ctx.pki, _java25(ctx)
        port, management = self.ports(ctx)
        props = {
            "quarkus.http.host": ctx.host,
            # HTTPS only: the plain port is not opened
            "quarkus.http.ssl-port": port, "quarkus.http.insecure-requests": "disabled",
            "quarkus.http.ssl.certificate.files": pki.server_cert,
            "quarkus.http.ssl.certificate.key-files": pki.server_key,
            # the management port cannot be disabled in this build; loopback and TLS too
            "quarkus.management.host": ctx.host, "quarkus.management.port": management,
            "quarkus.management.ssl.certificate.files": pki.server_cert,
            "quarkus.management.ssl.certificate.key-files": pki.server_key,
            # authentication: OIDC bearer tokens of the Keycloak realm; HTTP Basic client id:secret
            # (what Confluent clients send) exchanged there by the client-credentials grant
            "quarkus.oidc.tenant-enabled": "true",
            "quarkus.oidc.auth-server-url": Keycloak().issuer(ctx),
            "quarkus.oidc.tls.tls-configuration-name": "local-ca",
            "quarkus.tls.local-ca.trust-store.pem.certs": pki.ca_cert,
            "apicurio.authn.basic-client-credentials.enabled": "true",
            # authorization: the realm role in the token decides; nothing anonymous
            "apicurio.auth.role-based-authorization": "true", "apicurio.auth.role-source": "token",
            "apicurio.auth.anonymous-read-access.enabled": "false",
            "apicurio.auth.authenticated-read-access.enabled": "false",
            "apicurio.auth.roles.admin": REGISTRY_ROLES["admin"],
            "apicurio.auth.roles.developer": REGISTRY_ROLES["developer"],
            "apicurio.auth.roles.readonly": REGISTRY_ROLES["readonly"],
            "apicurio.storage.kind": "sql", "apicurio.storage.sql.kind": "h2",
            "apicurio.datasource.url": f"jdbc:h2:file:{d / 'registry'}",
            "apicurio.datasource.jdbc.initial-size": 2, "apicurio.datasource.jdbc.min-size": 2,
            "apicurio.storage.snapshot.location": d, "apicurio.import.work-dir": d,
            "quarkus.http.access-log.enabled": "false",
            "quarkus.log.console.format": "%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p [%c{3.}] (%t) %s%e%n",
        }
        # Quarkus reads config/application.properties in its working directory (the service dir)
        tls.write_private(d / "config" / "application.properties",
                          "".join(f"{k}={v}\n" for k, v in props.items()).encode())
        # the token exchange (a plain Vert.x client) trusts the JVM's default truststore: ours,
        # whose password goes in an argument file (0600), not on the command line
        tls.write_private(d / "jvm-trust.args", (
            f"-Djavax.net.ssl.trustStore={pki.truststore(java_home)}\n-Djavax.net.ssl.trustStoreType=PKCS12\n"
            f"-Djavax.net.ssl.trustStorePassword={pki.store_password()}\n").encode())

    def command(self, ctx: Context) -> tuple[list[str], dict[str, str]]:
        d = ctx.service_dir(self.name)
        app = ctx.paths["apicurio-app"]
        runner = next(app.rglob("quarkus-run.jar"), None)
        if runner is None:
            raise StackError(f"no quarkus-run.jar under {app}; delete it and run stack up again")
        return [
            # Apicurio 3.3 is compiled for Java 21+
            _java(_java25(ctx)), "-Xms64m", "-Xmx512m", f"@{d / 'jvm-trust.args'}",
            # class-data sharing archive: halves the start-up time after the first run
            "-XX:+AutoCreateSharedArchive", f"-XX:SharedArchiveFile={d / 'apicurio-cds.jsa'}",
            "-jar", str(runner),
        ], {}

    def _admin(self, ctx: Context) -> dict:
        return registry.requests_kwargs(ctx.cfg, "admin")

    def healthy(self, ctx: Context) -> bool:
        ca = str(ctx.pki.ca_cert)
        try:
            ready = requests.get(f"https://{ctx.host}:{self.ports(ctx)[1]}/health/ready", timeout=2,
                                 verify=ca).status_code == 200
            r = requests.get(ctx.cfg.get("registry.url") + "/subjects", timeout=5, **self._admin(ctx))
            return ready and r.status_code == 200
        except requests.RequestException:
            return False

    def after_start(self, ctx: Context) -> None:
        level = ctx.cfg.get("registry.compatibility")
        r = requests.put(ctx.cfg.get("registry.url") + "/config", json={"compatibility": level}, timeout=10,
                         **self._admin(ctx))
        if not r.ok:
            raise StackError(f"registry refused global compatibility {level}: {r.status_code} {r.text}")


class Trino(Service):
    name = "trino"
    description = "Trino 476 (Java 25) with a Hive catalog over the worm bucket"

    def ports(self, ctx: Context) -> list[int]:
        return [int(ctx.cfg.get("trino.port"))]

    def prepare(self, ctx: Context) -> None:
        server = artifacts.extract(
            artifacts.one(ctx.paths["trino"], "trino-server-core-*.tar.gz"),
            ctx.cache_dir / "trino-server", ctx.say,
        )
        artifacts.extract(
            artifacts.one(ctx.paths["trino"], "trino-hive-*.zip"),
            server / "plugin" / "hive", ctx.say,
        )
        ctx.paths["trino-server"] = server
        _java25(ctx)
        self._write_etc(ctx)

    def _write_etc(self, ctx: Context) -> None:
        d = ctx.service_dir(self.name)
        etc, metastore = d / "etc", d / "metastore"
        (etc / "catalog").mkdir(parents=True, exist_ok=True)
        metastore.mkdir(exist_ok=True)
        h, port = ctx.host, self.ports(ctx)[0]
        refresh = f"{int(ctx.cfg.get('trino.refresh_s'))}s"
        (etc / "node.properties").write_text(
            f"node.environment=auditflow\nnode.id=auditflow-local-1\nnode.data-dir={d / 'data'}\n"
            f"node.bind-ip={h}\nnode.internal-address={h}\n"
        )
        # HTTPS only (plain http is not served at all), with the stack's certificate; password
        # logins; the shared secret (required once clients authenticate) signs the node's own
        # internal requests, which go to discovery.uri and trust the local CA
        tls.write_private(etc / "config.properties", "\n".join([
            "coordinator=true", "node-scheduler.include-coordinator=true",
            "http-server.http.enabled=false",
            "http-server.https.enabled=true", f"http-server.https.port={port}",
            f"http-server.https.keystore.path={ctx.pki.server_bundle()}",
            "http-server.authentication.type=PASSWORD",
            f"internal-communication.shared-secret={tls.generated_secret(d / 'shared-secret', 48)}",
            # the node finds itself by its https URI (there is no http one); with a truststore
            # given, Trino uses it instead of certificates made from the shared secret
            "internal-communication.https.required=true",
            f"internal-communication.https.truststore.path={ctx.pki.ca_cert}",
            f"discovery.uri=https://{h}:{port}",
            "query.max-memory=1GB", "query.max-memory-per-node=512MB", "",
        ]).encode())
        tls.write_private(etc / "password-authenticator.properties", (
            f"password-authenticator.name=file\nfile.password-file={etc / trino_access.PASSWORD_FILE}\n"
            f"file.refresh-period={refresh}\n"
        ).encode())
        (etc / "access-control.properties").write_text(
            f"access-control.name=file\nsecurity.config-file={etc / trino_access.RULES_FILE}\n"
            f"security.refresh-period={refresh}\n"
        )
        users = trino_access.write(ctx.cfg, etc)
        ctx.say(f"trino: users {', '.join(users)} (password file, file-based access control)")
        (etc / "jvm.config").write_text("\n".join([
            "-server", "-Xmx1G", "-XX:+UseG1GC", "-XX:G1HeapRegionSize=32M",
            "-XX:+ExplicitGCInvokesConcurrent", "-XX:+ExitOnOutOfMemoryError",
            "-XX:-OmitStackTraceInFastThrow", "-XX:ReservedCodeCacheSize=256M",
            "-XX:PerMethodRecompilationCutoff=10000", "-XX:PerBytecodeRecompilationCutoff=10000",
            "-Djdk.attach.allowAttachSelf=true", "-Djdk.nio.maxCachedBufferSize=2000000",
            "-XX:+EnableDynamicAgentLoading", "-XX:+UnlockDiagnosticVMOptions",
            "-XX:G1NumCollectionsKeepPinned=10000000", "-Dfile.encoding=UTF-8",
            # its S3 client trusts the JVM's default truststore: the stack's CA (no password)
            f"-Djavax.net.ssl.trustStore={jks_truststore(ctx)}", "-Djavax.net.ssl.trustStoreType=JKS", "",
        ]))
        (etc / "log.properties").write_text("io.trino=INFO\n")
        s3conf = ctx.cfg.section("s3")
        s3_user, s3_secret = ctx.identity("trino").at("s3")
        # The file metastore lives on local disk: the worm bucket cannot hold mutable metadata
        # (every version is locked), and tables there are external, read-only to Trino.
        # 0600: it holds the trino identity's S3 secret
        tls.write_private(etc / "catalog" / f"{ctx.cfg.get('trino.catalog')}.properties", "\n".join([
            "connector.name=hive",
            "hive.metastore=file",
            "hive.metastore.catalog.dir=local:///",
            "fs.native-local.enabled=true",
            f"local.location={metastore}",
            "fs.native-s3.enabled=true",
            f"s3.endpoint={s3conf['endpoint']}",
            "s3.path-style-access=true",
            f"s3.region={s3conf['region']}",
            # its own identity (role trino in auditflow/roles.toml): reads the worm bucket only
            f"s3.aws-access-key={s3_user}",
            f"s3.aws-secret-key={s3_secret}",
            "hive.allow-register-partition-procedure=true",
            "hive.non-managed-table-writes-enabled=false",
            "",
        ]).encode())

    def command(self, ctx: Context) -> tuple[list[str], dict[str, str]]:
        d = ctx.service_dir(self.name)
        java_home = _java25(ctx)
        launcher = ctx.paths["trino-server"] / "bin" / "launcher"
        # `launcher run` execs java in the foreground, so the pid we hold is the JVM's
        return [
            str(launcher), "run", f"--etc-dir={d / 'etc'}", f"--data-dir={d / 'data'}",
        ], {"JAVA_HOME": java_home, "PATH": f"{java_home}/bin:{os.environ.get('PATH', '')}"}

    def healthy(self, ctx: Context) -> bool:
        try:
            # /v1/info answers without a login
            r = requests.get(f"https://{ctx.host}:{self.ports(ctx)[0]}/v1/info", timeout=2,
                             verify=str(ctx.pki.ca_cert))
            return r.ok and r.json().get("starting") is False
        except (requests.RequestException, ValueError):
            return False


def all_services(cfg: Config) -> list[Service]:
    services: list[Service] = [Kafka(), Keycloak(), Registry(), SeaweedFS(), FlinkJobManager(),
                               FlinkTaskManager()]
    if cfg.get("stack.trino"):
        services.append(Trino())
    return services
