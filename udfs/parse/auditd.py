"""Linux auditd events -> Process, File System, Authentication, Account Change and config events.

One Kafka record holds all lines of one audit event, i.e. the lines sharing
`msg=audit(<sec>.<ms>:<serial>)`, newline-separated, as the ingest adapter grouped them (raw
`audit.log` format; `node=` prefixes and the ENRICHED format's `\\x1d`-separated name fields are
understood). Lines with different serials raise ParseError('auditd.mixed_events').

Values follow auditd's encoding: quoted strings are literal, unquoted untrusted strings (exe,
comm, cwd, name, proctitle, cmd, acct, key, EXECVE arguments) are hex and decoded here;
`4294967295`/`-1` ids mean unset.

Mapping (schemas/README.md):
- `EXECVE` or a `SYSCALL` execve/execveat -> Process Activity 1007 / 1 Launch; the process in
  `resources[0]` (pid, exe, `Process`), arguments in `unmapped['process.cmd_line']` (space
  joined) and `unmapped['process.args']` (JSON array, exact).
- another `SYSCALL` with `PATH` records -> File System Activity 1001, activity from the syscall
  and the PATH `nametype` (see `_file_activity`); the file in `resources[0]`.
- `USER_AUTH`, `USER_LOGIN` / `USER_LOGOUT` -> Authentication 3002 / 1 / 2, status from `res=`.
- `ADD_USER` / `DEL_USER` / `USER_CHAUTHTOK` / `USER_MGMT` / `ACCT_LOCK` / `ACCT_UNLOCK` ->
  Account Change 3001 / 1 / 6 / 3 / 99 / 9 / 2; `ADD_GROUP` / `DEL_GROUP` / `GRP_MGMT` -> Entity
  Management 3004 / 1 / 4 / 3 (type `Group`).
- `USER_CMD` (sudo) -> Authorize Session 3003 / 1, the command in `unmapped['sudo.command']`.
- `CONFIG_CHANGE` (audit rules and settings changed: `auditctl -D`, `-e 0`, ...) -> Entity
  Management 3004: `add_rule` 1 Create, `remove_rule` 4 Delete, other changes 3 Update; the rule
  (by key) or setting in `resources[0]` (type `AuditRule` / `AuditConfig`), so detections can
  see the audit trail being weakened.
- anything else -> Base Event 0 / 99, rule `auditd.generic`.
"""

from __future__ import annotations

import json
import re

from udfs.parse import base

RE_HEADER = re.compile(
    r"^(?:node=(?P<node>\S+) )?type=(?P<type>\S+)"
    r" msg=audit\((?P<sec>\d+)\.(?P<ms>\d+):(?P<serial>\d+)\): ?(?P<body>.*)$",
    re.S,
)
# keys start only where a key can start (not inside a longer run of key characters): without
# the look-behind a long run of word characters is tried from every offset, O(n^2)
RE_FIELD = re.compile(r"""(?<![\w\-\[\]])([\w\-\[\]]++)=("[^"]*"|'[^']*'|\S*)""")
RE_HEX = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")
RE_ARG = re.compile(r"^a\d+(\[\d+\])?$")
ENCODED = {"exe", "comm", "cwd", "name", "proctitle", "cmd", "acct", "key", "data", "old-name",
           "new-name", "path"}
UNSET = {"4294967295", "-1", "?", "(none)", "(null)", "unset", ""}

# arch -> syscall number -> name, for the syscalls the mapping needs (non-ENRICHED logs).
SYSCALLS = {
    "c000003e": {  # x86_64
        0: "read", 1: "write", 2: "open", 17: "pread64", 18: "pwrite64", 19: "readv", 20: "writev",
        59: "execve", 76: "truncate", 77: "ftruncate", 82: "rename", 83: "mkdir", 84: "rmdir",
        85: "creat", 86: "link", 87: "unlink", 88: "symlink", 90: "chmod", 91: "fchmod", 92: "chown",
        93: "fchown", 94: "lchown", 132: "utime", 133: "mknod", 188: "setxattr", 189: "lsetxattr",
        190: "fsetxattr", 197: "removexattr", 198: "lremovexattr", 199: "fremovexattr",
        235: "utimes", 257: "openat", 258: "mkdirat", 259: "mknodat", 260: "fchownat",
        261: "futimesat", 263: "unlinkat", 264: "renameat", 265: "linkat", 266: "symlinkat",
        268: "fchmodat", 280: "utimensat", 316: "renameat2", 322: "execveat", 437: "openat2",
        452: "fchmodat2",
    },
    "c00000b7": {  # aarch64
        5: "setxattr", 6: "lsetxattr", 7: "fsetxattr", 14: "removexattr", 15: "lremovexattr",
        16: "fremovexattr", 33: "mknodat", 34: "mkdirat", 35: "unlinkat", 36: "symlinkat",
        37: "linkat", 38: "renameat", 45: "truncate", 46: "ftruncate", 52: "fchmod", 53: "fchmodat",
        54: "fchownat", 55: "fchown", 56: "openat", 63: "read", 64: "write", 88: "utimensat",
        221: "execve", 276: "renameat2", 281: "execveat", 437: "openat2", 452: "fchmodat2",
    },
    "40000003": {  # i386
        3: "read", 4: "write", 5: "open", 8: "creat", 9: "link", 10: "unlink", 11: "execve",
        15: "chmod", 38: "rename", 39: "mkdir", 40: "rmdir", 92: "truncate", 93: "ftruncate",
        295: "openat", 301: "unlinkat", 302: "renameat", 306: "fchmodat", 358: "execveat",
    },
}
EXEC_SYSCALLS = {"execve", "execveat"}
SECURITY_SYSCALLS = {"chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat"}
ATTR_SYSCALLS = {"setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
                 "utime", "utimes", "utimensat", "futimesat"}
DELETE_SYSCALLS = {"unlink", "unlinkat", "rmdir"}
CREATE_SYSCALLS = {"creat", "mkdir", "mkdirat", "mknod", "mknodat", "link", "linkat", "symlink", "symlinkat"}
WRITE_SYSCALLS = {"write", "pwrite64", "writev", "truncate", "ftruncate"}
READ_SYSCALLS = {"read", "pread64", "readv"}
O_ACCMODE, O_TRUNC = 0o3, 0o1000

AUTH_TYPES = {"USER_AUTH": 1, "USER_LOGIN": 1, "USER_LOGOUT": 2}
ACCOUNT_TYPES = {"ADD_USER": 1, "DEL_USER": 6, "USER_CHAUTHTOK": 3, "USER_MGMT": base.ACTIVITY_OTHER,
                 "ACCT_LOCK": 9, "ACCT_UNLOCK": 2}
GROUP_TYPES = {"ADD_GROUP": 1, "DEL_GROUP": 4, "GRP_MGMT": 3}
# records that only ever follow a SYSCALL record of the same serial: a Kafka record holding only
# these is the rest of an event whose SYSCALL came in another record (the lines of one serial
# split across reads, or interleaved with another event's lines)
AUX_TYPES = {"EXECVE", "PATH", "CWD", "PROCTITLE", "SOCKADDR", "EOE", "BPRM_FCAPS", "MMAP", "FD_PAIR",
             "OBJ_PID", "CAPSET", "MQ_OPEN", "MQ_SENDRECV", "NETFILTER_PKT", "IPC", "KERN_MODULE"}


def parse(record: base.RawRecord) -> dict:
    raw = base.decode_text(record)
    # split on newlines only: str.splitlines() would also split at the ENRICHED separator \x1d
    lines = [line.rstrip("\r") for line in raw.split("\n") if line.strip()]
    if not lines:
        raise base.ParseError("auditd.empty",
                              "auditd: empty record value; expected the lines of one audit event")
    records: list[tuple[str, dict[str, str | None]]] = []
    first = None
    for line in lines:
        m = RE_HEADER.match(line.strip())
        if not m:
            raise base.ParseError(
                "auditd.unframed",
                f"auditd: line {base.snippet(line)} has no"
                " 'type=<TYPE> msg=audit(<sec>.<ms>:<serial>):' header",
            )
        if first is None:
            first = m
        elif m["serial"] != first["serial"] or m["sec"] != first["sec"]:
            raise base.ParseError(
                "auditd.mixed_events",
                f"auditd: record mixes events audit({first['sec']}.{first['ms']}:{first['serial']}) and"
                f" audit({m['sec']}.{m['ms']}:{m['serial']}); the ingest adapter must group lines by serial",
            )
        records.append((m["type"], _fields(m["body"])))
    assert first is not None
    node = first["node"] or record.headers.get("host")
    serial = first["serial"]
    types = [t for t, _ in records]
    by_type: dict[str, dict] = {}
    for t, f in records:
        by_type.setdefault(t, f)
    syscall = by_type.get("SYSCALL")
    sc_name = _syscall_name(syscall) if syscall is not None else None

    if syscall is None and set(types) <= AUX_TYPES:
        mapped = _fragment(records, by_type)
    elif "EXECVE" in by_type or sc_name in EXEC_SYSCALLS:
        mapped = _process(records, by_type, sc_name)
    elif syscall is not None and "PATH" in by_type:
        mapped = _file(records, by_type, sc_name)
    else:
        mapped = _other(records)
    primary = mapped.pop("primary")
    unmapped = mapped.pop("unmapped")
    unmapped["auditd.types"] = ",".join(types)
    for key in ("exe", "comm", "uid", "euid", "gid", "egid", "key", "tty", "terminal", "op", "ppid",
                "subj", "pid"):
        value = primary.get(key)
        if value is not None and key not in unmapped:
            unmapped[key] = value

    auid = _id(primary.get("auid"))
    name = primary.get("AUID") if auid is not None else None
    if mapped.pop("acct_is_actor", False) and primary.get("acct"):
        name = primary["acct"]
        auid = auid if auid is not None else _id(primary.get("id"))
    hostname = primary.get("hostname")
    addr = primary.get("addr")
    src = base.endpoint(ip=addr, hostname=hostname if hostname and not base.ip_or_none(hostname) else None)
    return base.build_event(
        record,
        time_ms=int(first["sec"]) * 1000 + int(first["ms"][:3].ljust(3, "0")),
        product="Linux auditd",
        vendor="Linux",
        uid=f"{node}:{serial}" if node else serial,
        log_name="audit.log",
        original_time=f"{first['sec']}.{first['ms']}",
        actor=base.actor(base.user(uid=auid, name=name if name not in UNSET else None),
                    session_uid=_id(primary.get("ses"))),
        src_endpoint=src,
        dst_endpoint=base.endpoint(hostname=node),
        api=base.api(sc_name) if sc_name else None,
        unmapped=unmapped,
        raw_data=raw,
        **mapped,
    )


# --- field decoding ---------------------------------------------------------------------------


def _fields(body: str) -> dict[str, str | None]:
    """key=value pairs of one line; msg='...' (user-space records) is merged in, ENRICHED too."""
    body, _, enriched = body.partition("\x1d")
    out: dict[str, str | None] = {}
    for key, value in RE_FIELD.findall(body):
        if key == "msg" and value.startswith("'"):
            for k, v in _fields(value[1:-1]).items():
                out.setdefault(k, v)
            continue
        out[key] = _value(key, value)
    for key, value in RE_FIELD.findall(enriched):
        out[key] = _value(key, value)
    return out


def _value(key: str, value: str) -> str | None:
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        return value[1:-1]
    if value in ("(null)", "?"):
        return None
    if (key in ENCODED or RE_ARG.match(key)) and RE_HEX.match(value):
        decoded = bytes.fromhex(value).decode("utf-8", "replace")
        return decoded.replace("\x00", " ").rstrip() if key == "proctitle" else decoded
    return value


def _id(value: str | None) -> str | None:
    return None if value is None or value in UNSET else value


def _syscall_name(syscall: dict) -> str | None:
    if syscall.get("SYSCALL"):
        return syscall["SYSCALL"]
    number = syscall.get("syscall")
    try:
        return SYSCALLS.get((syscall.get("arch") or "").lower(), {}).get(int(number), number)
    except (TypeError, ValueError):
        return number


def _outcome(fields: dict) -> tuple[int | None, str | None]:
    success = fields.get("success")
    if success is not None:
        ok = success == "yes"
        status = base.STATUS_SUCCESS if ok else base.STATUS_FAILURE
        return status, (None if ok else f"exit={fields.get('exit')}")
    res = fields.get("res")
    if res is not None:
        ok = res in ("success", "1", "yes")
        return (base.STATUS_SUCCESS if ok else base.STATUS_FAILURE), (None if ok else f"res={res}")
    return None, None


# --- event kinds ------------------------------------------------------------------------------


def _process(records, by_type, sc_name) -> dict:
    syscall = by_type.get("SYSCALL") or by_type["EXECVE"]
    unmapped: dict[str, str] = {}
    execve = by_type.get("EXECVE")
    if execve is not None:
        args = _execve_args(execve)
        unmapped["process.cmd_line"] = " ".join(args)
        unmapped["process.args"] = json.dumps(args, ensure_ascii=False)
    cwd = (by_type.get("CWD") or {}).get("cwd")
    if cwd:
        unmapped["process.cwd"] = cwd
    title = (by_type.get("PROCTITLE") or {}).get("proctitle")
    if title and "process.cmd_line" not in unmapped:
        unmapped["process.cmd_line"] = title
    status, detail = _outcome(syscall)
    return {
        "primary": syscall,
        "class_uid": base.PROCESS_ACTIVITY,
        "activity_id": 1,
        "rule": "auditd.execve",
        "status_id": status,
        "status_detail": detail,
        "resources": [base.resource(uid=syscall.get("pid"), name=syscall.get("exe"), type_="Process")],
        "unmapped": unmapped,
    }


def _fragment(records, by_type) -> dict:
    """The auxiliary records of an event without its SYSCALL record: Base Event, rule
    `auditd.fragment`, what they hold kept in unmapped; join it to the SYSCALL part on
    metadata.uid (`<node>:<serial>`)."""
    unmapped: dict[str, str] = {"auditd.fragment": "no SYSCALL record"}
    execve = by_type.get("EXECVE")
    if execve is not None:
        args = _execve_args(execve)
        unmapped["process.cmd_line"] = " ".join(args)
        unmapped["process.args"] = json.dumps(args, ensure_ascii=False)
    if (by_type.get("CWD") or {}).get("cwd"):
        unmapped["process.cwd"] = by_type["CWD"]["cwd"]
    title = (by_type.get("PROCTITLE") or {}).get("proctitle")
    if title and "process.cmd_line" not in unmapped:
        unmapped["process.cmd_line"] = title
    paths = [f.get("name") for t, f in records if t == "PATH"]
    if paths:
        unmapped["file.paths"] = json.dumps(paths, ensure_ascii=False)
    return {"primary": {}, "class_uid": base.BASE_EVENT, "activity_id": base.ACTIVITY_OTHER,
            "rule": "auditd.fragment", "status_id": None, "status_detail": None, "unmapped": unmapped}


def _execve_args(execve: dict) -> list[str]:
    try:
        argc = int(execve.get("argc") or 0)
    except ValueError:
        argc = 0
    # no more arguments than the record holds: a forged argc (10^31) must not loop
    present = [int(k[1:].partition("[")[0]) for k in execve if RE_ARG.match(k)]
    argc = min(argc, max(present, default=-1) + 1)
    args = []
    for i in range(argc):
        if f"a{i}" in execve:
            args.append(execve[f"a{i}"] or "")
            continue
        parts, j = [], 0  # long arguments are split: a1_len=N a1[0]=... a1[1]=...
        while f"a{i}[{j}]" in execve:
            parts.append(execve[f"a{i}[{j}]"] or "")
            j += 1
        args.append("".join(parts))
    return args


def _file(records, by_type, sc_name) -> dict:
    syscall = by_type["SYSCALL"]
    paths = [f for t, f in records if t == "PATH"]
    nametypes = {p.get("nametype") for p in paths}
    target = next((p for p in paths if p.get("nametype") != "PARENT"), paths[0])
    name = target.get("name")
    cwd = (by_type.get("CWD") or {}).get("cwd")
    if name and cwd and not name.startswith("/"):
        name = cwd.rstrip("/") + "/" + name
    unmapped = {f"file.{k}": v for k in ("mode", "ouid", "ogid", "dev", "nametype", "obj")
                if (v := target.get(k)) is not None}
    if len(paths) > 1:
        unmapped["file.paths"] = json.dumps([p.get("name") for p in paths], ensure_ascii=False)
    status, detail = _outcome(syscall)
    return {
        "primary": syscall,
        "class_uid": base.FILE_SYSTEM_ACTIVITY,
        "activity_id": _file_activity(sc_name or "", syscall, nametypes),
        "rule": "auditd.file",
        "status_id": status,
        "status_detail": detail,
        "resources": [base.resource(uid=target.get("inode"), name=name, type_="File")],
        "unmapped": unmapped,
    }


def _file_activity(sc: str, syscall: dict, nametypes: set) -> int:
    """rename* 5; chmod/chown 7; *xattr/utime* 6 (7 when the rule key names acl); DELETE 4;
    CREATE 1; truncate/write 3; open by access mode (read-only 2, else 3); else 99."""
    if sc.startswith("rename"):
        return 5
    if sc in SECURITY_SYSCALLS:
        return 7
    if sc in ATTR_SYSCALLS:
        return 7 if "acl" in (syscall.get("key") or "").lower() else 6
    if "DELETE" in nametypes or sc in DELETE_SYSCALLS:
        return 4
    if "CREATE" in nametypes or sc in CREATE_SYSCALLS:
        return 1
    if sc in WRITE_SYSCALLS:
        return 3
    if sc in READ_SYSCALLS:
        return 2
    if sc in ("open", "openat", "openat2"):
        flags_arg = syscall.get("a1" if sc == "open" else "a2")
        try:
            flags = int(flags_arg or "0", 16)
        except ValueError:
            return base.ACTIVITY_OTHER
        return 2 if flags & O_ACCMODE == 0 and not flags & O_TRUNC else 3
    return base.ACTIVITY_OTHER


def _other(records) -> dict:
    for rtype, f in records:
        status, detail = _outcome(f)
        common = {"primary": f, "status_id": status, "status_detail": detail, "unmapped": {}}
        if rtype in AUTH_TYPES:
            return {**common, "class_uid": base.AUTHENTICATION, "activity_id": AUTH_TYPES[rtype],
                    "rule": f"auditd.{rtype.lower()}", "acct_is_actor": True,
                    "resources": None}
        if rtype in ACCOUNT_TYPES or rtype in GROUP_TYPES:
            is_group = rtype in GROUP_TYPES
            target = f.get("acct") or f.get("grp") or f.get("id")
            return {**common, "class_uid": base.ENTITY_MANAGEMENT if is_group else base.ACCOUNT_CHANGE,
                    "activity_id": (GROUP_TYPES if is_group else ACCOUNT_TYPES)[rtype],
                    "rule": f"auditd.{rtype.lower()}",
                    "resources": [base.resource(uid=f.get("id"), name=target,
                                           type_="Group" if is_group else "User")]}
        if rtype == "USER_CMD":
            pairs = (("sudo.command", f.get("cmd")), ("sudo.cwd", f.get("cwd")))
            common["unmapped"] = {k: v for k, v in pairs if v is not None}
            return {**common, "class_uid": base.AUTHORIZE_SESSION, "activity_id": 1,
                    "rule": "auditd.user_cmd"}
        if rtype == "CONFIG_CHANGE":
            op = f.get("op") or ""
            activity = 1 if op == "add_rule" else 4 if op in ("remove_rule", "remove_all") else 3
            if op.endswith("_rule") or op == "remove_all":
                res = base.resource(name=f.get("key"), type_="AuditRule")
            else:
                settings = (k for k in f if k.startswith("audit_") or k in ("enabled", "failure"))
                setting = next(settings, op or None)
                res = base.resource(name=setting, type_="AuditConfig")
                if setting in f:
                    common["unmapped"] = {"config.value": f[setting], "config.old": f.get("old") or ""}
            if f.get("list"):
                common["unmapped"]["config.list"] = f["list"]
            return {**common, "class_uid": base.ENTITY_MANAGEMENT, "activity_id": activity,
                    "rule": "auditd.config_change", "resources": [res]}
    f = records[0][1]
    status, detail = _outcome(f)
    return {"primary": f, "class_uid": base.BASE_EVENT, "activity_id": base.ACTIVITY_OTHER,
            "rule": "auditd.generic",
            "status_id": status, "status_detail": detail, "unmapped": {}}
