"""Syslog lines (RFC 3164 and RFC 5424) -> events; sshd, sudo, su, PAM and shadow-utils recognised.

One Kafka record holds one line. Accepted framings:

- RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID k="v" ...] MSG`; structured
  data is kept in `unmapped` as `sd.<SD-ID>.<param>`; a nil (`-`) TIMESTAMP takes the Kafka
  record timestamp.
- RFC 3164: `[<PRI>]Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG` (PRI optional, as in files such as
  /var/log/auth.log), `Mmm dd yyyy hh:mm:ss` (with the year, as syslog-ng's and network devices'
  templates write it), or with an ISO 8601 timestamp instead (rsyslog's high-precision format).
  Without a year in the line, the year is the one that puts the time closest before the Kafka
  record timestamp plus one day, so `Dec 31 23:59:59` ingested on Jan 1 falls in the previous
  year and no line lands more than a day in the future. The local time zone of the source is
  the record header `tz` (IANA name, e.g. `Europe/Berlin`), UTC when absent.

A line with no recognisable header raises ParseError('syslog.unframed'). Messages the parser
does not recognise still become events: OCSF Base Event (class 0, activity 99 Other) with the
syslog severity mapped to OCSF severity, rule `syslog.generic`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from udfs.parse import base

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
              "authpriv", "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2",
              "local3", "local4", "local5", "local6", "local7")
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
# syslog severity -> OCSF severity_id, for unrecognised lines only (recognised activity uses
# 1 Informational / 2 Low by outcome, as every family does).
OCSF_SEVERITY = {0: 5, 1: 5, 2: 5, 3: 4, 4: 3, 5: 2, 6: 1, 7: 1}

RE_5424 = re.compile(r"^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+)(?: (.*))?$", re.S)
RE_3164 = re.compile(
    r"^(?:<(?P<pri>\d{1,3})>)?"
    r"(?:(?P<bsd>(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?:(?P<year>\d{4}) )?(?P<hms>\d\d:\d\d:\d\d)"
    r"(?P<frac>\.\d+)?)"
    r"|(?P<iso>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?))"
    r" +(?P<rest>.*)$",
    re.S,
)
RE_HOST_TAG = re.compile(
    r"^(?:(?P<host>[^\s:\[\]]+) +)?(?P<tag>[^\s:\[\]]+)(?:\[(?P<pid>[^\]]*)\])?: ?(?P<msg>.*)$", re.S
)
RE_REPEATED = re.compile(r"^message repeated (\d+) times: \[ ?(.*?) ?\]$", re.S)


class Line:
    """The parsed syslog framing of one record."""

    def __init__(self) -> None:
        self.pri: int | None = None
        self.time_ms = 0
        self.original_time: str | None = None
        self.host: str | None = None
        self.program: str | None = None
        self.pid: str | None = None
        self.msg = ""
        self.unmapped: dict[str, str] = {}


def parse(record: base.RawRecord) -> dict:
    raw = base.decode_text(record).rstrip("\r\n")
    line = _frame(raw, record)
    msg = line.msg
    m = RE_REPEATED.match(msg)
    if m:  # rsyslog's repeat reduction: one event standing for N identical lines
        line.unmapped["syslog.repeated"] = m.group(1)
        msg = m.group(2)
    fields = _recognise(line.program or "", msg)
    if fields is None:
        severity = OCSF_SEVERITY[line.pri % 8] if line.pri is not None else None
        fields = {"class_uid": base.BASE_EVENT, "activity_id": base.ACTIVITY_OTHER, "rule": "syslog.generic",
                  "product": line.program or "syslog", "severity_id": severity}
    unmapped = line.unmapped
    unmapped.update(fields.pop("unmapped", {}))
    log_name = record.headers.get("file")
    log_name = os.path.basename(log_name) if log_name else unmapped.get("syslog.app_name") or "syslog"
    return base.build_event(
        record,
        time_ms=line.time_ms,
        original_time=line.original_time,
        message=msg,
        log_name=log_name,
        dst_endpoint=base.endpoint(hostname=line.host),
        unmapped=unmapped,
        raw_data=raw,
        **fields,
    )


# --- framing ----------------------------------------------------------------------------------


def _frame(raw: str, record: base.RawRecord) -> Line:
    line = Line()
    m = RE_5424.match(raw)
    if m:
        pri, _version, ts, host, app, procid, msgid, rest = m.groups()
        line.pri = _pri(pri, raw)
        if ts == "-":
            line.time_ms = record.timestamp_ms
            line.unmapped["syslog.time_source"] = "ingest"
        else:
            line.time_ms = base.parse_iso_ms(ts, "syslog RFC 5424 TIMESTAMP")
            line.original_time = ts
        line.host = None if host == "-" else host
        line.program = None if app == "-" else app
        line.pid = None if procid == "-" else procid
        sd, line.msg = _structured_data(rest or "", raw)
        line.unmapped.update(sd)
        if line.program:
            line.unmapped["syslog.app_name"] = line.program
        if msgid != "-":
            line.unmapped["syslog.msgid"] = msgid
        line.msg = line.msg.removeprefix("\ufeff")
    else:
        m = RE_3164.match(raw)
        if not m:
            raise base.ParseError(
                "syslog.unframed",
                f"syslog: no RFC 5424 or RFC 3164 header in {base.snippet(raw)}; expected e.g."
                " '<38>Nov 28 12:09:01 host sshd[42]: message' or '<38>1 2024-11-28T12:09:01Z host"
                " app - - - message'",
            )
        if m.group("pri") is not None:
            line.pri = _pri(m.group("pri"), raw)
        if m.group("bsd"):
            line.original_time = m.group("bsd")
            line.time_ms = _bsd_time(m, record, raw)
        else:
            line.original_time = m.group("iso")
            line.time_ms = base.parse_iso_ms(m.group("iso").replace(" ", "T", 1), "syslog timestamp")
        rest = m.group("rest")
        hm = RE_HOST_TAG.match(rest)
        if hm:
            line.host, line.program, line.pid, line.msg = hm.group("host", "tag", "pid", "msg")
        else:  # no TAG: 'HOSTNAME free text'
            host, _, msg = rest.partition(" ")
            line.host, line.msg = host, msg
    if line.pri is not None:
        line.unmapped["syslog.facility"] = FACILITIES[line.pri // 8]
        line.unmapped["syslog.severity"] = SEVERITIES[line.pri % 8]
    if line.program:
        line.unmapped["syslog.program"] = line.program
    if line.pid:
        line.unmapped["syslog.pid"] = line.pid
    return line


def _pri(text: str, raw: str) -> int:
    pri = int(text)
    if pri > 191:
        raise base.ParseError("syslog.bad_pri",
                              f"syslog: PRI <{pri}> is out of range 0-191 in {base.snippet(raw)}")
    return pri


def _zone(record: base.RawRecord):
    name = record.headers.get("tz")
    if not name:
        return base.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise base.ParseError(
            "syslog.bad_tz",
            f"syslog: record header tz={name!r} is not an IANA time zone name (e.g. 'Europe/Berlin');"
            " fix the ingest adapter's time zone setting",
        ) from None


def _bsd_time(m: re.Match, record: base.RawRecord, raw: str) -> int:
    """RFC 3164 time without a year: the latest year not more than a day after ingestion."""
    month = MONTHS.get(m.group("mon"))
    hh, mm, ss = (int(x) for x in m.group("hms").split(":"))
    micro = int((m.group("frac") or ".0")[1:7].ljust(6, "0"))
    zone = _zone(record)
    if month is not None and m.group("year"):  # 'Nov 28 2026 12:09:01' (syslog-ng, Cisco, ...)
        try:
            return base.to_ms(datetime(int(m.group("year")), month, int(m.group("day")), hh, mm, ss, micro,
                                       tzinfo=zone))
        except ValueError:
            month = None
    ref = datetime.fromtimestamp(record.timestamp_ms / 1000, tz=zone)
    latest = ref + timedelta(days=1)
    if month is not None:
        for year in range(ref.year + 1, ref.year - 5, -1):
            try:
                candidate = datetime(year, month, int(m.group("day")), hh, mm, ss, micro, tzinfo=zone)
            except ValueError:
                continue
            if candidate <= latest:
                return base.to_ms(candidate)
    raise base.ParseError(
        "syslog.bad_time",
        f"syslog: cannot parse {m.group('bsd')!r} as an RFC 3164 timestamp ('Mmm dd hh:mm:ss')"
        f" in {base.snippet(raw)}",
    )


def _structured_data(rest: str, raw: str) -> tuple[dict[str, str], str]:
    """RFC 5424 STRUCTURED-DATA -> ({'sd.<id>.<param>': value}, MSG)."""
    out: dict[str, str] = {}
    if rest.startswith("-"):
        return out, rest[2:] if rest.startswith("- ") else rest[1:]
    i, n = 0, len(rest)
    while i < n and rest[i] == "[":
        j = i + 1
        while j < n and rest[j] not in " ]":
            j += 1
        sd_id = rest[i + 1:j]
        while j < n and rest[j] == " ":
            j += 1
            k = rest.find('="', j)
            if k < 0:
                raise base.ParseError("syslog.bad_sd",
                                      f"syslog: malformed structured data in {base.snippet(raw)}")
            name = rest[j:k]
            j = k + 2
            value = []
            while j < n and rest[j] != '"':
                if rest[j] == "\\" and j + 1 < n and rest[j + 1] in '"\\]':
                    j += 1
                value.append(rest[j])
                j += 1
            if j >= n:
                raise base.ParseError("syslog.bad_sd",
                                      f"syslog: unterminated SD-PARAM value in {base.snippet(raw)}")
            out[f"sd.{sd_id}.{name}"] = "".join(value)
            j += 1
        if j >= n or rest[j] != "]":
            raise base.ParseError("syslog.bad_sd",
                                  f"syslog: unterminated SD-ELEMENT [{sd_id} in {base.snippet(raw)}")
        i = j + 1
    if i == 0:
        raise base.ParseError(
            "syslog.bad_sd",
            f"syslog: expected '-' or '[' for RFC 5424 STRUCTURED-DATA in {base.snippet(raw)}"
        )
    return out, rest[i + 1:] if rest[i:i + 1] == " " else rest[i:]


# --- messages ---------------------------------------------------------------------------------

OPENSSH = {"product": "OpenSSH", "vendor": "OpenBSD"}
SUDO = {"product": "sudo", "vendor": "sudo project"}
SU = {"product": "util-linux", "vendor": "kernel.org"}
SHADOW = {"product": "shadow-utils", "vendor": "shadow-maint"}
PAM = {"product": "Linux-PAM", "vendor": "Linux-PAM"}

RE_SSH_ACCEPTED = re.compile(
    r"^Accepted (?P<method>\S+) for (?P<user>.+?) from (?P<ip>\S+) port (?P<port>\d+)"
    r"(?: ssh2)?(?:: (?P<key>.*))?$")
RE_SSH_FAILED = re.compile(
    r"^Failed (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>.*?) from (?P<ip>\S+)"
    r" port (?P<port>\d+)(?: ssh2)?(?: \[preauth\])?$")
RE_SSH_INVALID = re.compile(
    r"^Invalid user (?P<user>.*?) from (?P<ip>\S+)(?: port (?P<port>\d+))?(?: \[preauth\])?$")
RE_SSH_DISCONNECTED = re.compile(
    r"^Disconnected from user (?P<user>\S+) (?P<ip>\S+) port (?P<port>\d+)$")

RE_PAM = re.compile(r"^pam_unix\((?P<service>[^:)]+):(?P<kind>\w+)\): (?P<text>.*)$")
RE_PAM_SESSION = re.compile(
    r"^session (?P<op>opened|closed) for user (?P<target>[^\s(]+)(?:\(uid=(?P<tuid>\d+)\))?"
    r"(?: by (?P<by>[^\s(]*)(?:\(uid=(?P<buid>\d+)\))?)?$")
# the look-behind keeps findall linear on a long run of word characters without '='
RE_KV = re.compile(r"(?<!\w)(\w++)=(\S*)")

RE_SU_TO = re.compile(r"^(?P<failed>FAILED SU )?\(to (?P<target>\S+)\) (?P<user>\S+) on (?P<tty>\S+)$")
RE_SU_SHADOW = re.compile(r"^(?P<res>Successful|FAILED) su for (?P<target>\S+) by (?P<user>\S+)$")

SHADOW_PROGRAMS = {"useradd", "userdel", "usermod", "groupadd", "groupdel", "groupmod", "gpasswd",
                   "passwd", "chpasswd", "chage", "newusers", "chsh", "chfn"}
LOGON_SERVICES = {"sshd", "login", "su", "su-l", "sudo", "sudo-i", "gdm-password", "lightdm",
                  "sddm", "systemd-user", "cockpit", "vsftpd", "dovecot"}


def _recognise(program: str, msg: str) -> dict | None:
    pam = RE_PAM.match(msg)
    if pam:
        return _pam(pam)
    handler = HANDLERS.get(program)
    if handler is None and program in SHADOW_PROGRAMS:
        handler = _shadow
    return handler(msg) if handler else None


def _auth(activity: int, status: int, rule: str, *, detail=None, name=None, uid=None, ip=None,
          port=None, target=None, unmapped=None, meta=OPENSSH, class_uid=base.AUTHENTICATION) -> dict:
    return {
        "class_uid": class_uid,
        "activity_id": activity,
        "status_id": status,
        "status_detail": detail,
        "rule": rule,
        "actor": base.actor(base.user(uid=uid, name=name)),
        "src_endpoint": base.endpoint(ip=ip, port=port),
        "resources": [base.resource(name=target, type_="User")] if target else None,
        "unmapped": unmapped or {},
        **meta,
    }


def _sshd(msg: str) -> dict | None:
    m = RE_SSH_ACCEPTED.match(msg)
    if m:
        unmapped = {"auth_method": m["method"]}
        if m["key"]:
            unmapped["ssh.key"] = m["key"]
        return _auth(1, base.STATUS_SUCCESS, "sshd.accepted", name=m["user"], ip=m["ip"], port=m["port"],
                     unmapped=unmapped)
    m = RE_SSH_FAILED.match(msg)
    if m:
        detail = f"Failed {m['method']}" + (" for invalid user" if m["invalid"] else "")
        unmapped = {"auth_method": m["method"]}
        if m["invalid"]:
            unmapped["sshd.invalid_user"] = "true"
        return _auth(1, base.STATUS_FAILURE, "sshd.failed", detail=detail, name=m["user"] or None,
                     ip=m["ip"], port=m["port"], unmapped=unmapped)
    m = RE_SSH_INVALID.match(msg)
    if m:
        return _auth(1, base.STATUS_FAILURE, "sshd.invalid_user", detail="invalid user",
                     name=m["user"] or None,
                     ip=m["ip"], port=m["port"], unmapped={"sshd.invalid_user": "true"})
    m = RE_SSH_DISCONNECTED.match(msg)
    if m:
        return _auth(2, base.STATUS_SUCCESS, "sshd.disconnected", name=m["user"], ip=m["ip"], port=m["port"])
    return None


def _sudo(msg: str) -> dict | None:
    head, sep, body = msg.strip().partition(" : ")
    if not sep or " " in head or "=" not in body:
        return None
    command = None
    if "COMMAND=" in body:
        body, _, command = body.partition("COMMAND=")
    values: dict[str, str] = {}
    reasons = []
    for part in (p.strip() for p in body.split(" ; ")):
        if not part:
            continue
        key, eq, value = part.partition("=")
        if eq and key.isupper():
            values[key] = value
        else:
            reasons.append(part.rstrip(" ;"))
    unmapped = {f"sudo.{k.lower()}": v for k, v in values.items() if k != "USER"}
    if command is not None:
        unmapped["sudo.command"] = command
    runas = values.get("USER")
    reason = "; ".join(reasons) or None
    if reason and "incorrect password attempt" in reason:
        return _auth(1, base.STATUS_FAILURE, "sudo.bad_password", detail=reason, name=head, target=runas,
                     unmapped=unmapped, meta=SUDO)
    status = base.STATUS_FAILURE if reason else base.STATUS_SUCCESS
    return _auth(1, status, "sudo.denied" if reason else "sudo.command", detail=reason, name=head,
                 target=runas, unmapped=unmapped, meta=SUDO, class_uid=base.AUTHORIZE_SESSION)


def _su(msg: str) -> dict | None:
    m = RE_SU_TO.match(msg)
    if m:
        failed = bool(m["failed"])
        return _auth(1, base.STATUS_FAILURE if failed else base.STATUS_SUCCESS,
                     "su.failed" if failed else "su.to",
                     detail="FAILED SU" if failed else None, name=m["user"], target=m["target"],
                     unmapped={"su.tty": m["tty"]}, meta=SU)
    m = RE_SU_SHADOW.match(msg)
    if m:
        failed = m["res"] == "FAILED"
        return _auth(1, base.STATUS_FAILURE if failed else base.STATUS_SUCCESS,
                     "su.failed" if failed else "su.to",
                     detail="FAILED su" if failed else None, name=m["user"], target=m["target"],
                     meta={"product": "shadow-utils", "vendor": "shadow-maint"})
    if msg.startswith("pam_authenticate: Authentication failure"):
        return _auth(1, base.STATUS_FAILURE, "su.failed", detail="Authentication failure", meta=SU)
    return None


def _pam(m: re.Match) -> dict | None:
    service, kind, body = m["service"], m["kind"], m["text"]
    family = service.split("-")[0]  # su-l -> su, sudo-i -> sudo
    meta = {"sshd": OPENSSH, "sudo": SUDO, "su": SU}.get(family, PAM)
    if kind == "session" and service in LOGON_SERVICES:
        s = RE_PAM_SESSION.match(body)
        if not s:
            return None
        opened = s["op"] == "opened"
        if family == "sudo":
            return _auth(1 if opened else base.ACTIVITY_OTHER, base.STATUS_SUCCESS, "sudo.pam_session",
                         name=s["by"] or None, uid=s["buid"], target=s["target"], meta=meta,
                         class_uid=base.AUTHORIZE_SESSION)
        rule = f"{family}.pam_session_{s['op']}"
        if s["by"]:  # su: 'for user root by alice(uid=1000)' -> actor alice, target root
            return _auth(1 if opened else 2, base.STATUS_SUCCESS, rule, name=s["by"], uid=s["buid"],
                         target=s["target"], meta=meta)
        return _auth(1 if opened else 2, base.STATUS_SUCCESS, rule, name=s["target"], uid=s["tuid"],
                     meta=meta)
    if kind == "auth" and (body.startswith("authentication failure") or "user unknown" in body):
        kv = dict(RE_KV.findall(body))
        detail = "user unknown" if "user unknown" in body else "authentication failure"
        target = kv.get("user") or None
        invoker = kv.get("ruser") or kv.get("logname") or None
        unmapped = {f"pam.{k}": v for k, v in kv.items() if v and k not in ("user", "ruser", "rhost")}
        unmapped["pam.service"] = service
        if family in ("su", "sudo") and invoker:
            return _auth(1, base.STATUS_FAILURE, f"{family}.pam_auth_failure", detail=detail, name=invoker,
                         uid=kv.get("uid"), target=target, ip=kv.get("rhost"), unmapped=unmapped, meta=meta)
        return _auth(1, base.STATUS_FAILURE, f"{family}.pam_auth_failure", detail=detail,
                     name=target or invoker,
                     ip=kv.get("rhost"), unmapped=unmapped, meta=meta)
    if kind == "chauthtok":
        c = re.match(r"^password changed for (\S+)$", body)
        if c:
            return _account(3, "pam.password_changed", c[1], meta=PAM, unmapped={"pam.service": service})
    return None


# --- shadow-utils -----------------------------------------------------------------------------


def _account(activity: int, rule: str, target: str, *, uid=None, by=None, type_="User",
             extra: list[dict] | None = None, unmapped=None, meta=SHADOW,
             class_uid=base.ACCOUNT_CHANGE) -> dict:
    return {
        "class_uid": class_uid,
        "activity_id": activity,
        "status_id": base.STATUS_SUCCESS,
        "rule": rule,
        "actor": base.actor(base.user(name=by)) if by else None,
        "resources": [base.resource(uid=uid, name=target, type_=type_), *(extra or [])],
        "unmapped": unmapped or {},
        **meta,
    }


def _group(activity: int, rule: str, name: str, gid=None, unmapped=None) -> dict:
    return _account(activity, rule, name, uid=gid, type_="Group", unmapped=unmapped,
                    class_uid=base.ENTITY_MANAGEMENT)


def _change(name: str, field: str, old: str | None = None, new: str | None = None) -> dict:
    unmapped = {"usermod.field": field}
    if old is not None:
        unmapped.update({"usermod.old": old, "usermod.new": new or ""})
    return _account(base.ACTIVITY_OTHER, "shadow.change_user", name, unmapped=unmapped)


def _membership(op: str, name: str, group: str, rule: str, by=None) -> dict:
    attach = op in ("add", "added")
    return _account(7 if attach else 8, rule, name, by=by, extra=[base.resource(name=group, type_="Group")],
                    unmapped={"group": group})


SHADOW_PATTERNS: list[tuple[re.Pattern, Callable[[re.Match], dict]]] = [
    (re.compile(r"^new user: name=(?P<name>[^,]+), UID=(?P<uid>\d+)(?P<rest>.*)$"),
     lambda m: _account(1, "shadow.new_user", m["name"], uid=m["uid"],
                        unmapped={f"useradd.{k.lower()}": v.rstrip(",")
                                  for k, v in RE_KV.findall(m["rest"])})),
    (re.compile(r"^new group: name=(?P<name>[^,]+), GID=(?P<gid>\d+)"),
     lambda m: _group(1, "shadow.new_group", m["name"], m["gid"])),
    (re.compile(r"^group added to (?P<db>\S+): name=(?P<name>[^,]+)(?:, GID=(?P<gid>\d+))?"),
     lambda m: _group(1, "shadow.group_db", m["name"], m["gid"], {"shadow.db": m["db"]})),
    (re.compile(r"^delete user '(?P<name>[^']+)'"),
     lambda m: _account(6, "shadow.delete_user", m["name"])),
    (re.compile(r"^removed (?P<shadow>shadow )?group '(?P<name>[^']+)' owned by '(?P<owner>[^']+)'"),
     lambda m: _group(4, "shadow.shadow_group" if m["shadow"] else "shadow.removed_group", m["name"],
                      unmapped={"group.owner": m["owner"]})),
    (re.compile(r"^group '(?P<name>[^']+)' removed from (?P<db>\S+)"),
     lambda m: _group(4, "shadow.group_db", m["name"], unmapped={"shadow.db": m["db"]})),
    (re.compile(r"^group '(?P<name>[^']+)' removed$"),
     lambda m: _group(4, "shadow.removed_group", m["name"])),
    (re.compile(r"^(?P<op>add|delete) '(?P<name>[^']+)' (?:to|from) (?P<shadow>shadow )?group"
                r" '(?P<group>[^']+)'"),
     lambda m: _membership(m["op"], m["name"], m["group"],
                           "shadow.shadow_group" if m["shadow"] else "shadow.group_member")),
    (re.compile(r"^user (?P<name>\S+) (?P<op>added|removed) by (?P<by>\S+) (?:to|from) group"
                r" (?P<group>\S+)"),
     lambda m: _membership(m["op"], m["name"], m["group"], "shadow.group_member", by=m["by"])),
    (re.compile(r"^change user '(?P<name>[^']+)' password"),
     lambda m: _account(3, "shadow.password_changed", m["name"])),
    (re.compile(r"^password for '(?P<name>[^']+)' changed by '(?P<by>[^']+)'"),
     lambda m: _account(3, "shadow.password_changed", m["name"], by=m["by"])),
    (re.compile(r"^(?P<op>lock|unlock) user '(?P<name>[^']+)' password"),
     lambda m: _account(9 if m["op"] == "lock" else 2, f"shadow.{m['op']}_user", m["name"])),
    (re.compile(r"^change user name '(?P<old>[^']+)' to '(?P<new>[^']+)'"),
     lambda m: _change(m["new"], "name", m["old"], m["new"])),
    (re.compile(r"^change user '(?P<name>[^']+)' (?P<field>[\w ]+?) from '(?P<old>[^']*)'"
                r" to '(?P<new>[^']*)'"),
     lambda m: _change(m["name"], m["field"], m["old"], m["new"])),
    (re.compile(r"^changed password expiry for (?P<name>\S+)"),
     lambda m: _change(m["name"], "expiry")),
]


def _shadow(msg: str) -> dict | None:
    for pattern, make in SHADOW_PATTERNS:
        m = pattern.match(msg)
        if m:
            return make(m)
    return None


HANDLERS: dict[str, Callable[[str], dict | None]] = {"sshd": _sshd, "sudo": _sudo, "su": _su}
