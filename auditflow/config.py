"""One configuration model for every command and job.

Precedence, lowest first: built-in defaults (defaults.toml: [profiles.local], then for any other
profile the production values of its [nonlocal] table) < the profile in a config file
(``auditflow.toml`` in the working directory, ``--config`` or ``AUDITFLOW_CONFIG``) <
environment variables ``AUDITFLOW_<SECTION>__<KEY>`` < ``--set section.key=value`` flags.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditflow import paths

DEFAULTS_FILE = paths.DEFAULTS_FILE
ENV_PREFIX = "AUDITFLOW_"
SECRET_WORDS = ("secret", "password", "token", "private_key", "routing_key", "authorization",
                "api_key", "apikey", "credential")
# URLs that are credentials themselves (whoever has one can post)
SECRET_URLS = ("https://hooks.slack.com/", "https://outlook.office.com/webhook/")


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message says which and where."""


@dataclass
class Config:
    profile: str
    values: dict[str, dict[str, Any]]
    sources: list[str] = field(default_factory=list)

    def section(self, name: str) -> dict[str, Any]:
        if name not in self.values:
            raise ConfigError(f"config has no section [{name}] in profile {self.profile!r}")
        return self.values[name]

    def get(self, dotted: str) -> Any:
        section, _, key = dotted.partition(".")
        sec = self.section(section)
        if key not in sec:
            raise ConfigError(f"config has no key {dotted!r} in profile {self.profile!r}")
        return sec[key]

    def path(self, dotted: str) -> Path:
        return Path(os.path.expanduser(str(self.get(dotted))))

    def as_environment(self) -> dict[str, str]:
        """The effective values as AUDITFLOW_<SECTION>__<KEY> variables, for a child process
        (e.g. a job under `flink run`) to load exactly this configuration. Every key is set,
        so the child needs neither the config file nor the profile name."""
        env: dict[str, str] = {}
        for section, kv in self.values.items():
            for key, value in kv.items():
                if isinstance(value, bool):
                    text = "true" if value else "false"
                elif isinstance(value, (dict, list)):
                    text = json.dumps(value)
                else:
                    text = str(value)
                env[f"{ENV_PREFIX}{section.upper()}__{key.upper()}"] = text
        return env

    def redacted(self) -> dict[str, dict[str, Any]]:
        return {s: {k: _redact(k, v) for k, v in kv.items()} for s, kv in self.values.items()}


def _redact(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _redact(k, v) for k, v in value.items()}
    if not value or not isinstance(value, str) or re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", value):
        return value  # empty, or a ${ENV} reference: it names the secret, it is not one
    if any(w in key.lower() for w in SECRET_WORDS):
        return "****"
    for prefix in SECRET_URLS:
        if value.startswith(prefix):
            return prefix + "****"
    return value


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}  # S3 Object Lock: a year is 365 days


def duration(text: str | int, what: str = "value") -> dt.timedelta:
    """A duration with a unit: "90s", "10m", "12h", "1d", "2555d", "7y" (a year = 365 days)."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdy])\s*", str(text))
    if not m or int(m.group(1)) <= 0:
        raise ConfigError(f"{what}: expected a positive number with a unit s, m, h, d or y "
                          f"(e.g. \"7y\", \"2555d\", \"10m\"), got {text!r}")
    return dt.timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def retention(cfg: Config) -> dt.timedelta:
    """archive.retention: the bucket's default Object Lock retention and every sealed object's
    lock. `archive.retention_s` (seconds, before archive.retention) is still read, as an alias."""
    arch = cfg.section("archive")
    if "s3" in cfg.values and "retention_days" in cfg.values["s3"]:
        raise ConfigError("s3.retention_days is replaced by archive.retention (e.g. \"7y\"), which sets "
                          "both the bucket's default retention and each sealed object's lock")
    if arch.get("retention_s") not in (None, ""):
        try:
            return dt.timedelta(seconds=int(arch["retention_s"]))
        except ValueError as exc:
            raise ConfigError(f"archive.retention_s: expected seconds, got {arch['retention_s']!r}") from exc
    return duration(arch.get("retention", ""), "archive.retention")


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "client":
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _coerce(raw: str, current: Any) -> Any:
    """Turn a string from the environment or a flag into the type of the default."""
    if isinstance(current, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"expected true/false, got {raw!r}")
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    if isinstance(current, (dict, list)):
        return json.loads(raw)
    return raw


def _set(values: dict, dotted: str, raw: str, origin: str) -> None:
    section, sep, key = dotted.partition(".")
    if not sep or not key:
        raise ConfigError(f"{origin}: expected section.key=value, got {dotted!r}")
    sec = values.setdefault(section, {})
    try:
        sec[key] = _coerce(raw, sec.get(key, ""))
    except (ValueError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{origin}: bad value for {dotted}: {exc}") from exc


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def load(
    profile: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    environ: dict[str, str] | None = None,
    cwd_file: bool = True,
) -> Config:
    """The effective configuration. ``cwd_file=False`` skips ./auditflow.toml: for a process
    that has none (a pod reading only its environment, see auditflow.k8s)."""
    env = os.environ if environ is None else environ
    profile = profile or env.get("AUDITFLOW_PROFILE") or "local"
    builtin = _read_toml(DEFAULTS_FILE)
    defaults = builtin["profiles"]
    # every profile starts from the local defaults, so a profile file only lists what differs;
    # any other profile than local gets the production values of [nonlocal] over them first
    values = copy.deepcopy(defaults["local"])
    sources = [f"defaults ({DEFAULTS_FILE.name})"]
    if profile != "local":
        values = _merge(values, builtin.get("nonlocal", {}))
        sources.append(f"defaults ({DEFAULTS_FILE.name}) [nonlocal]")
    if profile in defaults and profile != "local":
        values = _merge(values, defaults[profile])

    file = config_file or env.get("AUDITFLOW_CONFIG")
    if not file and cwd_file and Path("auditflow.toml").exists():
        file = "auditflow.toml"
    if file:
        data = _read_toml(Path(file))
        profiles = data.get("profiles", {})
        if profile not in profiles and profile not in defaults:
            known = ", ".join(sorted(set(profiles) | set(defaults)))
            raise ConfigError(f"profile {profile!r} is not in {file} (known: {known})")
        values = _merge(values, profiles.get(profile, {}))
        sources.append(f"file {file} [profiles.{profile}]")
    elif profile not in defaults:
        raise ConfigError(
            f"profile {profile!r} is not built in; pass --config FILE with [profiles.{profile}]"
        )

    for name, raw in sorted(env.items()):
        if name.startswith(ENV_PREFIX) and "__" in name:
            section, key = name[len(ENV_PREFIX):].lower().split("__", 1)
            _set(values, f"{section}.{key}", raw, f"environment {name}")
            sources.append(f"environment {name}")
    for item in overrides:
        dotted, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects section.key=value, got {item!r}")
        _set(values, dotted.strip(), raw, "--set")
        sources.append(f"--set {dotted.strip()}")
    return Config(profile=profile, values=values, sources=sources)
