"""Integration tests run against the real local stack, which this fixture brings up.

A service that cannot start fails the session's tests with the service's own error; nothing
here skips. The stack is stopped at the end only if this session started it. `scripts/test`
runs them against a stack of its own (data directory and ports, through AUDITFLOW_* variables,
which `cfg` reads like every command does).

What a test creates it removes: Kafka topics through the `topics` fixture (`module_topics` for a
module-scoped fixture), Flink jobs through `flink_jobs` (`module_flink_jobs`), which cancels them
at teardown, also after a failure, and deletes their retained checkpoints.

Time limits (pytest-timeout, `signal` method, so the failing test's name and stack are shown):
an integration test without a `timeout` marker of its own gets INTEGRATION_TIMEOUT_S. The test
that runs a shared fixture's setup gets that fixture's budget on top: the first test to use
`stack` gets the stack's start-up, the session's last test its shutdown, and a module lists its
expensive module-scoped fixtures in `FIXTURE_TIMEOUTS = {"fixture": seconds}` (the first test of
the module to use one gets its seconds; the module's last test gets TEARDOWN_S for the clean-up).
An explicit `--timeout N` (or PYTEST_TIMEOUT) replaces INTEGRATION_TIMEOUT_S; 0 switches limits
off for the tests without a marker.

A failing test's report ends with the last lines of every service log and the root exception of
the Flink jobs that failed (or that the test started).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
import warnings
from pathlib import Path

import pytest
import requests
from confluent_kafka import KafkaError, KafkaException

from auditflow import config, flink, kafka, registry
from auditflow.stack import lifecycle
from auditflow.stack.process import StackError, tail
from auditflow.stack.services import Context, all_services
from udfs import sources

INTEGRATION = Path(__file__).resolve().parent

# ---------------------------------------------------------------- time limits (seconds)
# most integration tests take well under a minute; this is for the ones without a marker
INTEGRATION_TIMEOUT_S = 300
# `stack` set-up beyond the services' own start-up deadlines (stack.start_timeout_s each, which
# fail first and say which service): checking the cached artifacts' hashes (scripts/test fetches
# them beforehand, so no download counts here), formatting Kafka, creating topics and buckets
STACK_SETUP_S = 300
# `lifecycle.down` gives each service 30 s to exit before it kills it
STACK_STOP_PER_SERVICE_S = 30
# a module-scoped fixture's clean-up in the module's last test: cancel its jobs (each waited for),
# delete topics and checkpoints, drop a Trino schema
TEARDOWN_S = 240
# Flink settles a cancelled job within seconds; a job not CANCELED by then counts as left running
CANCEL_WAIT_S = 60

LOG_LINES = 25
SESSION_START_MS = time.time() * 1000


def _is_integration(item) -> bool:
    return INTEGRATION in Path(item.path).resolve().parents


def _configured_timeout(config_) -> float | None:
    """--timeout, else PYTEST_TIMEOUT, else the ini default: what a test without a marker gets."""
    for raw in (config_.getoption("timeout", None), os.environ.get("PYTEST_TIMEOUT"),
                config_.getini("timeout")):
        if raw not in (None, ""):
            return float(raw)
    return None


def _setup_budgets(config_, items, integration) -> dict[int, float]:
    """Seconds to add to a test's limit, by its index in `items`, for the shared set-up and
    teardown that run in it (see the module docstring)."""
    extra: dict[int, float] = {}
    index = {id(item): n for n, item in enumerate(items)}

    def add(item_index: int, seconds: float) -> None:
        extra[item_index] = extra.get(item_index, 0) + seconds

    users = [item for item in integration if "stack" in item.fixturenames]
    if users:
        cfg = config_for_timeouts()
        services = all_services(cfg)
        add(index[id(users[0])], len(services) * float(cfg.get("stack.start_timeout_s")) + STACK_SETUP_S)
        # session fixtures are finalized in the teardown of the session's last test, whatever it is
        add(len(items) - 1, len(services) * STACK_STOP_PER_SERVICE_S + 60)
    by_module: dict[Path, list] = {}
    for item in integration:
        by_module.setdefault(Path(item.path), []).append(item)
    for module_items in by_module.values():
        budgets = getattr(getattr(module_items[0], "module", None), "FIXTURE_TIMEOUTS", {})
        for fixture, seconds in budgets.items():
            first = next((i for i in module_items if fixture in i.fixturenames), None)
            if first is not None:
                add(index[id(first)], seconds)
        if budgets:  # module fixtures are finalized in the teardown of the module's last test
            add(index[id(module_items[-1])], TEARDOWN_S)
    return extra


@pytest.hookimpl(trylast=True)  # after deselection (-k, -m) and fixture reordering: the run order
def pytest_collection_modifyitems(config, items):
    integration = [item for item in items if _is_integration(item)]
    for item in integration:
        item.add_marker(pytest.mark.integration)
    if not integration:
        return
    extra = _setup_budgets(config, items, integration)
    explicit = config.getoption("timeout", None) is not None or bool(os.environ.get("PYTEST_TIMEOUT"))
    configured = _configured_timeout(config)
    for n, item in enumerate(items):
        if not _is_integration(item) and n not in extra:
            continue  # a unit test keeps the ini default
        marker = item.get_closest_marker("timeout")
        if marker is not None:
            if n not in extra:
                continue  # the test's own limit
            args = list(marker.args)
            kwargs = dict(marker.kwargs)
            base = args.pop(0) if args else kwargs.pop("timeout", None)
        else:
            args, kwargs = [], {}
            base = INTEGRATION_TIMEOUT_S if _is_integration(item) and not explicit else configured
        if not base:  # no limit (0, or none configured): nothing to add to
            continue
        # prepended: the closest marker is the one pytest-timeout reads
        item.add_marker(pytest.mark.timeout(float(base) + extra.get(n, 0), *args, **kwargs), append=False)


def config_for_timeouts() -> config.Config:
    try:
        return config.load()
    except config.ConfigError as exc:
        raise pytest.UsageError(f"auditflow config: {exc}") from exc


# ---------------------------------------------------------------- the stack
@pytest.fixture(scope="session")
def cfg() -> config.Config:
    """The configuration every command sees: defaults, auditflow.toml / AUDITFLOW_CONFIG and
    AUDITFLOW_<SECTION>__<KEY> variables (scripts/test sets the data directory and ports)."""
    return config.load()


# the most slots one test holds at once: normalize at parallelism 2 (its two halves in slots of
# their own), or the end-to-end test (normalize: 2, detect, archive)
SLOTS_NEEDED = 4


@pytest.fixture(scope="session")
def stack(cfg):
    ctx = lifecycle.context(cfg, print)
    already = {s.name for s in lifecycle.status(ctx) if s.pid}
    lifecycle.up(ctx)
    free_slots_or_fail(cfg)
    yield ctx
    if not already:
        lifecycle.down(ctx)


def free_slots_or_fail(cfg) -> None:
    """Jobs left running (a demo, an aborted test) hold the session cluster's slots, and a test's
    job would wait for one until it times out; say so at once, with the way out."""
    overview = flink.rest(cfg).get("/overview", timeout=10).json()
    if overview["slots-available"] >= SLOTS_NEEDED:
        return
    running = [f"{j['jid']} {j['name']}" for j in flink.list_jobs(cfg) if j["state"] == "RUNNING"]
    pytest.fail(f"the Flink session cluster has {overview['slots-available']} free task slots of "
                f"{overview['slots-total']}; the integration tests need {SLOTS_NEEDED}. Running jobs:\n  "
                + "\n  ".join(running) + "\nStop them with `auditflow jobs stop JOB_ID ...`.", pytrace=False)


# ---------------------------------------------------------------- topics a test creates
# the schema of a test's own topic, by its kind (Topics.register_schemas)
SCHEMA_OF = {"events": "audit_event", "dlq": "dead_letter", "alerts": "alert"}

# never deleted, whoever asks: the pipeline's own topics and Kafka's internal ones
PROTECTED_TOPICS = {s.name for s in kafka.load_topics()} | {"__consumer_offsets", "__transaction_state"}


class Topics:
    """The Kafka topics of one test (or module): created through it, or made by the code under
    test and named with `adopt` / `adopt_new`; every one is deleted at teardown."""

    def __init__(self, cfg: config.Config):
        self.cfg = cfg
        self.run = uuid.uuid4().hex[:8]
        self.names: list[str] = []
        self.new_with_prefix: list[tuple[str, set[str]]] = []
        self.acls: set = set()

    def create(self, *specs: kafka.TopicSpec) -> list[str]:
        """Create these topics (names of the caller's choosing, unique to the run)."""
        self.adopt(*(s.name for s in specs))
        kafka.apply_topics(self.cfg, list(specs))
        return [s.name for s in specs]

    def unique(self, name: str = "topic", partitions: int = 2, topic_config: dict | None = None) -> str:
        """Create `it.<run>.<name>`, unique to this test run; returns its name."""
        topic = f"it.{self.run}.{name}"
        self.create(kafka.TopicSpec(topic, partitions, 1, dict(topic_config or {})))
        return topic

    def grant(self, role: str, **grants) -> None:
        """Grant a role Kafka access to this test's own names (roles.toml knows only the
        pipeline's standard ones): kafka.grant's lists read, write, groups, transactional_ids;
        revoked at teardown. An ingest tenant's user is made first."""
        if role.startswith("ingest:"):
            kafka.apply_users(self.cfg, [role])
        self.acls |= kafka.grant(self.cfg, role, **grants)

    # a test's own topic, by keyword, stands for this standard one of roles.toml
    STANDARD = {"events": "audit.events", "dlq": "audit.dlq", "filtered": "audit.filtered",
                "users": "audit.users", "alerts": "audit.alerts", "late": "audit.detect.late",
                "late_results": "audit.detect.late.results", "delivered": "audit.alerts.delivered",
                "alerts_dlq": "audit.alerts.dlq"}

    def grant_pipeline(self, group: str, raw: list[str] = (), **topics: str) -> None:
        """Grant every role what roles.toml grants it, on this test's own topics standing for the
        standard ones (kafka.renamed_grants): `raw` for audit.raw.* (each raw topic's tenant may
        write it), keywords of STANDARD (events=..., alerts=...), `group` the prefix of the
        jobs' consumer groups and transactional ids. Registers the schemas of its events,
        dead-letter and alert topics too (register_schemas)."""
        names = {self.STANDARD[k]: [t] for k, t in topics.items()} | {"audit.raw.*": list(raw)}
        tenants: dict[str, list[str]] = {}
        for topic in raw:
            tenants.setdefault(sources.topic_tenant(topic), []).append(topic)
        self.acls |= kafka.grant_run(self.cfg, names, group, tenants)
        self.register_schemas(**{k: t for k, t in topics.items() if k in SCHEMA_OF})

    def register_schemas(self, **topics: str) -> None:
        """Register, as schema-admin, the schema of each of this test's events, dead-letter or
        alert topics (what `auditflow schemas register` does for the standard ones): the jobs
        and producers only look them up."""
        for kind, topic in topics.items():
            registry.register(self.cfg, topic, SCHEMA_OF[kind])

    def adopt(self, *names: str) -> None:
        """Delete these too at teardown: topics the code under test creates."""
        for name in names:
            if name in PROTECTED_TOPICS:
                raise ValueError(f"{name} is one of the pipeline's own topics; a test must not delete it")
            if name not in self.names:
                self.names.append(name)

    def adopt_new(self, prefix: str) -> None:
        """Delete at teardown the topics named `prefix...` that appear from now on (a command
        under test that picks its own topic name, like `auditflow smoke`)."""
        self.new_with_prefix.append((prefix, self._existing()))

    def _existing(self) -> set[str]:
        return set(kafka.admin(self.cfg).list_topics(timeout=10).topics)

    def delete(self) -> None:
        failed: list[str] = []
        try:
            kafka.revoke(self.cfg, self.acls)
        except KafkaException as exc:
            failed.append(f"ACLs not revoked: {exc}")
        try:
            names = list(self.names)
            if self.new_with_prefix:
                now = self._existing()
                for prefix, before in self.new_with_prefix:
                    names += sorted(t for t in now - before if t.startswith(prefix))
            names = [n for n in dict.fromkeys(names) if n not in PROTECTED_TOPICS]
            if not names:
                return
            admin = kafka.admin(self.cfg)  # kept alive until every deletion is answered
            for name, fut in admin.delete_topics(names, operation_timeout=30).items():
                try:
                    fut.result()
                except KafkaException as exc:
                    if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                        failed.append(f"{name}: {exc}")
        except KafkaException as exc:
            failed.append(str(exc))
        if failed:
            warnings.warn("test topics not deleted: " + "; ".join(failed), stacklevel=1)


@pytest.fixture
def topics(stack, cfg):
    t = Topics(cfg)
    yield t
    t.delete()


@pytest.fixture(scope="module")
def module_topics(stack, cfg):
    t = Topics(cfg)
    yield t
    t.delete()


# ---------------------------------------------------------------- Flink jobs a test starts
TERMINAL = {"CANCELED", "FAILED", "FINISHED"}


class FlinkJobs:
    """The Flink jobs of one test (or module). At teardown each is cancelled unless it already
    ended, waited for, and its retained checkpoints (RETAIN_ON_CANCELLATION) are deleted."""

    def __init__(self, cfg: config.Config):
        self.cfg = cfg
        self.ids: list[str] = []
        self.names: list[tuple[str, bool]] = []
        self.before: set[str] | None = None

    def track(self, job_id: str) -> str:
        if job_id not in self.ids:
            self.ids.append(job_id)
        return job_id

    def track_named(self, name: str, prefix: bool = False) -> None:
        """Also the jobs submitted from now on under this name (or a name starting with it), by
        a command under test that does not say its job id, or before it could say it."""
        if self.before is None:
            self.before = {j["jid"] for j in flink.list_jobs(self.cfg)}
        self.names.append((name, prefix))

    def resolve(self) -> list[str]:
        if self.names:
            for job in flink.list_jobs(self.cfg):
                if job["jid"] in (self.before or set()):
                    continue
                if any(job["name"].startswith(n) if p else job["name"] == n for n, p in self.names):
                    self.track(job["jid"])
        return list(self.ids)

    def state(self, job_id: str) -> str | None:
        """None: the JobManager does not know the job (any more), so nothing of it runs."""
        try:
            return flink.job_status(self.cfg, job_id)
        except requests.HTTPError:
            return None

    def stop_all(self) -> None:
        ids = self.resolve()
        left: list[str] = []
        for job_id in ids:
            if (self.state(job_id) or "CANCELED") not in TERMINAL:
                try:
                    flink.cancel(self.cfg, job_id)
                except StackError as exc:
                    left.append(f"{job_id}: {exc}")
        deadline = time.monotonic() + CANCEL_WAIT_S
        for job_id in ids:
            while (state := self.state(job_id) or "CANCELED") not in TERMINAL:
                if time.monotonic() > deadline:
                    left.append(f"{job_id} still {state} {CANCEL_WAIT_S}s after cancel")
                    break
                time.sleep(1)
        root = checkpoint_root(self.cfg)
        for job_id in ids:
            shutil.rmtree(root / job_id, ignore_errors=True)
        if left:
            raise StackError("Flink jobs of this test left running (they hold task slots):\n  "
                             + "\n  ".join(left))


def checkpoint_root(cfg: config.Config) -> Path:
    """Where the session cluster keeps checkpoints, one folder per job id (see
    auditflow/stack/services.py: execution.checkpointing.dir)."""
    return cfg.path("stack.data_dir") / "flink" / "checkpoints"


def taskmanager_or_fail(ctx: Context, wait_s: float = 90) -> None:
    """A test's job needs a TaskManager; its supervisor restarts a crashed one within seconds.
    When none registers, every job would wait for a slot until its test times out: say so at
    once, with the TaskManager's last log lines."""
    deadline = time.monotonic() + wait_s
    while flink.rest(ctx.cfg).get("/overview", timeout=10).json()["taskmanagers"] < 1:
        if time.monotonic() > deadline:
            svc = next(s for s in all_services(ctx.cfg) if s.name == "flink-taskmanager")
            pytest.fail(f"no Flink TaskManager registered for {wait_s:.0f}s; its log "
                        f"{lifecycle.log_file(ctx, svc)} ends:\n{tail(lifecycle.log_file(ctx, svc))}",
                        pytrace=False)
        time.sleep(1)


@pytest.fixture
def flink_jobs(stack, cfg, topics):  # after `topics`, so jobs stop before their topics go
    taskmanager_or_fail(stack)
    jobs = FlinkJobs(cfg)
    yield jobs
    jobs.stop_all()


@pytest.fixture(scope="module")
def module_flink_jobs(stack, cfg, module_topics):
    jobs = FlinkJobs(cfg)
    yield jobs
    jobs.stop_all()


@pytest.fixture
def smoke_run(topics, flink_jobs):
    """`auditflow smoke` names its own topic (audit.smoke.<run>) and job: removed afterwards."""
    topics.adopt_new("audit.smoke.")
    flink_jobs.track_named("auditflow-smoke audit.smoke.", prefix=True)


# ---------------------------------------------------------------- what a failure report shows
_reported: dict[str, str] = {}  # error text -> the test whose report carries the logs


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when in ("setup", "call") and report.failed:
        try:
            add_failure_context(item, call, report)
        except Exception as exc:  # the report must not fail because a service is down
            report.sections.append(("service logs", f"could not be read: {type(exc).__name__}: {exc}"))
    return report


def add_failure_context(item, call, report) -> None:
    """The tail of each service log and the Flink jobs' exceptions, as report sections."""
    error = f"{call.excinfo.typename}: {str(call.excinfo.value)[:500]}" if call.excinfo else ""
    if report.when == "setup" and error in _reported:  # a shared fixture's error, once more
        report.sections.append(("service logs", f"as in the report of {_reported[error]}"))
        return
    if report.when == "setup":
        _reported.setdefault(error, item.nodeid)
    cfg = item.funcargs.get("cfg")
    if not isinstance(cfg, config.Config):
        cfg = config.load()
    report.sections.extend(service_log_tails(cfg))
    jobs = [v for v in item.funcargs.values() if isinstance(v, FlinkJobs)]
    text = flink_failures(cfg, jobs)
    if text:
        report.sections.append(("Flink job exceptions", text))


def service_log_tails(cfg: config.Config) -> list[tuple[str, str]]:
    ctx = Context(cfg=cfg, data_dir=cfg.path("stack.data_dir"), cache_dir=cfg.path("stack.cache_dir"),
                  say=lambda _m: None)
    out = []
    for svc in all_services(cfg):
        log = lifecycle.log_file(ctx, svc)
        if log.exists():
            lines = [line[:400] for line in tail(log, LOG_LINES).splitlines()]
            out.append((f"{svc.name} log, last {LOG_LINES} lines ({log})", "\n".join(lines)))
    return out


def flink_failures(cfg: config.Config, tracked: list[FlinkJobs], limit: int = 3) -> str:
    """The root exception of the jobs this test started and of jobs that failed this session."""
    session = flink.rest(cfg)
    try:
        listed = flink.list_jobs(cfg)
    except (requests.RequestException, ValueError, KeyError):
        return ""
    mine = {jid for jobs in tracked for jid in jobs.resolve()}
    failed = {j["jid"] for j in listed if j["state"] in ("FAILED", "FAILING", "RESTARTING")
              and j.get("start-time", 0) >= SESSION_START_MS}
    names = {j["jid"]: f"{j['name']} ({j['state']})" for j in listed}
    parts = []
    for jid in [*sorted(mine), *sorted(failed - mine)][:limit]:
        try:
            r = session.get(f"/jobs/{jid}/exceptions", timeout=5)
            entries = ((r.json().get("exceptionHistory") or {}).get("entries") or []) if r.ok else []
        except (requests.RequestException, ValueError):
            entries = []
        if entries:
            trace = entries[0].get("stacktrace") or entries[0].get("exceptionName") or ""
            parts.append(f"{jid} {names.get(jid, '')}:\n" + "\n".join(trace.splitlines()[:12]))
        elif jid in failed:
            parts.append(f"{jid} {names.get(jid, '')}: no exception recorded")
    return "\n\n".join(parts)
