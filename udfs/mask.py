"""PII masking of canonical events, before enrichment and chaining (so hashes cover masked text).

    policy = MaskPolicy.from_dict(cfg)            # or MaskPolicy.from_toml(path), MaskPolicy()
    masked_event, found = mask_event(event, policy)
    # found == ['card_number@message', 'email@actor.user.name', 'secret@unmapped[requestParameters].password']

``mask_event`` returns a masked deep copy (the input is not modified) and what it masked, as
``<kind>@<path>`` strings. Paths are dotted record fields, ``[i]`` for array items and
``[key]`` for map keys (``resources[0].name``, ``unmapped[requestParameters]``); a path into a
JSON string continues with the JSON member names (``unmapped[requestParameters].password``).
The event records the same list, comma-separated, in ``unmapped["auditflow.masked"]`` (the
schema has no dedicated field; the key is ``MaskPolicy.record_key``), merged with any earlier
entries, so masking twice gives the same event as masking once.

What is masked (each detector can be switched off):

- ``card_number``: 13-19 digits, optionally grouped by single spaces or dashes, that pass the
  Luhn check and start like a payment card (2221-2720, 3, 4, 5, 6). Written as the PCI DSS
  truncation, first 6 and last 4 digits kept: ``411111******1111``. An order number or an
  epoch-millisecond time that fails Luhn or starts with 1/7/8/9/0 stays.
- ``email``: ``local@domain.tld``.
- national identifiers: ``us_ssn`` (``123-45-6789`` / ``123 45 6789``, impossible area/group/
  serial numbers excluded) and ``uk_nino`` (``AB 12 34 56 C``) by default;
  ``national_id_patterns`` (name -> regex) replaces that set and its patterns only run on text
  with at least 6 digits; ``extra_patterns`` (kind -> regex) adds patterns run on every string.
- secrets: values of sensitive keys in ``key=value`` / ``key: value`` / JSON text
  (password, passwd, pwd, passphrase, *secret*, *token, api_key, signature, credential,
  private_key, ...: see ``is_sensitive_key``), the credential after ``Bearer``/``Basic``,
  the password in URL userinfo (``https://user:pw@host``), sensitive URL query parameters
  (``?token=``, ``&X-Amz-Signature=``), PEM private key blocks, Google API keys (kind
  ``secret``); JWTs (``jwt``); AWS access key ids AKIA.../ASIA... (``aws_access_key``).
- strings that are JSON objects or arrays (CloudTrail requestParameters, Debezium before/after
  in ``unmapped``, raw_data of JSON sources) are parsed and walked: a sensitive member name
  masks its whole value, other strings go through the detectors above; when something was
  masked, the JSON is written back compactly (members in their original order).
- ``pseudonymize_fields``: whole fields replaced by a marker (e.g. ``actor.user.name`` where
  user names count as personal data).

**Markers.** A masked value becomes ``[MASKED:<kind>]``, or, when an HMAC key is configured
(recommended), ``[MASKED:<kind>:<token>]`` with token = the first ``token_hex_chars`` hex
characters of HMAC-SHA256(key, kind + "\\x00" + value). The same value always masks to the
same token under one key, so analysts and detection rules can still correlate ("the same
e-mail in both events") without seeing it; without the key the token cannot be reversed by
guessing. Never an unkeyed hash, which a dictionary of e-mails would reverse. The key is
configuration that must stay stable (rotating it changes tokens, and so the chain hashes of a
replay); it comes from ``hmac_key_env`` (default ``AUDITFLOW_MASK_HMAC_KEY``) or
``hmac_key_file``. Card numbers use the PCI truncation instead of a marker.

**Not masked by default**: IP addresses (needed for geolocation and detection; the schema
allows masking ``src_endpoint.ip`` but then geo enrichment has nothing to look up), and the
identifier and enum-like fields in ``DEFAULT_EXEMPT`` (event_id, tenant_id, metadata.uid,
api.operation, cloud.account.uid, actor.session.uid, lineage.*, chain.*, ...). Exempt paths
are globs over the path form above with ``[]`` for any array index (``resources[].type``) and
``*`` for any run of characters.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MARKER_PREFIX = "[MASKED:"

DEFAULT_NATIONAL_ID_PATTERNS: dict[str, str] = {
    # US Social Security Number; area 000, 666 and 9xx, group 00 and serial 0000 are never issued.
    "us_ssn": r"(?<![\w-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])",
    # UK National Insurance number: two prefix letters (with HMRC's exclusions), 6 digits, A-D.
    "uk_nino": r"(?<![\w])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
               r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![\w])",
}

DEFAULT_EXEMPT: tuple[str, ...] = (
    "event_id", "tenant_id", "metadata.product.*", "metadata.version", "metadata.uid",
    "metadata.log_name", "metadata.original_time", "src_endpoint.ip", "dst_endpoint.ip",
    "actor.user.type", "actor.session.uid", "api.operation", "api.service.name", "api.request.uid",
    "resources[].type", "http_request.http_method", "cloud.*", "lineage.*", "chain.*", "enrichment.geo.*",
)

# Deliberately not sensitive: "pwd" (sudo's working directory PWD=/home/alice), "pass", "code"
# (HTTP and Kubernetes status codes), session ids (analysts correlate on them).
SENSITIVE_KEY_EXACT = frozenset({
    "passphrase", "passcode", "pin", "cvv", "cvc", "cvv2", "authorization", "proxyauthorization",
    "cookie", "setcookie", "sig", "signature", "xamzsignature", "xamzcredential", "credential",
    "credentials", "otp", "mfacode",
})
SENSITIVE_KEY_SUFFIXES = ("secret", "secretkey", "secretaccesskey", "secretstring", "secretvalue", "token",
                          "apikey", "privatekey", "signature", "credentials", "passphrase")
SENSITIVE_KEY_SUBSTRINGS = ("password", "passwd")


@lru_cache(maxsize=4096)
def is_sensitive_key(name: str) -> bool:
    """Whether a member / parameter / header name holds a secret. The name is compared in
    lower case without non-alphanumerics (``X-Amz-Signature`` -> ``xamzsignature``); for a
    dotted unmapped key only its last part counts (``requestParameters.password``)."""
    last = name.rsplit(".", 1)[-1]
    n = re.sub(r"[^0-9a-z]", "", last.lower())
    if not n:
        return False
    return (n in SENSITIVE_KEY_EXACT or n.endswith(SENSITIVE_KEY_SUFFIXES)
            or any(s in n for s in SENSITIVE_KEY_SUBSTRINGS))


@dataclass(frozen=True)
class MaskPolicy:
    """Which detectors run, what is exempt, and how markers are made. Build it with
    ``from_dict`` / ``from_toml`` from configuration; ``MaskPolicy()`` is every detector on,
    no HMAC key (plain markers)."""

    enabled: bool = True
    card_numbers: bool = True
    emails: bool = True
    national_ids: bool = True
    secrets: bool = True
    jwts: bool = True
    aws_access_keys: bool = True
    json_strings: bool = True
    national_id_patterns: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_NATIONAL_ID_PATTERNS))
    extra_patterns: Mapping[str, str] = field(default_factory=dict)  # kind -> regex, masked whole
    exempt_fields: tuple[str, ...] = DEFAULT_EXEMPT
    pseudonymize_fields: tuple[str, ...] = ()
    hmac_key: bytes | None = field(default=None, repr=False)
    token_hex_chars: int = 8
    record_key: str | None = "auditflow.masked"

    @classmethod
    def from_dict(
        cls, cfg: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> MaskPolicy:
        """Build from a config mapping (e.g. the ``[mask]`` table). Keys are the field names
        plus ``hmac_key_env`` (default ``AUDITFLOW_MASK_HMAC_KEY``) and ``hmac_key_file``;
        ``extend_exempt_fields`` adds to the default exemptions instead of replacing them."""
        cfg = dict(cfg or {})
        environ = os.environ if environ is None else environ
        allowed = {f.name for f in fields(cls)} - {"hmac_key"}
        allowed |= {"hmac_key_env", "hmac_key_file", "extend_exempt_fields"}
        unknown = sorted(set(cfg) - allowed)
        if unknown:
            raise ValueError(f"mask policy: unknown setting(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(allowed))}")
        key_env = cfg.pop("hmac_key_env", "AUDITFLOW_MASK_HMAC_KEY")
        key_file = cfg.pop("hmac_key_file", None)
        key: bytes | None = None
        if key_file:
            try:
                key = Path(key_file).expanduser().read_bytes().strip()
            except OSError as exc:
                raise ValueError(
                    f"mask policy: cannot read hmac_key_file {key_file}: {exc.strerror}") from exc
            if not key:
                raise ValueError(f"mask policy: hmac_key_file {key_file} is empty")
        elif key_env and environ.get(key_env):
            key = environ[key_env].encode("utf-8")
        extend = tuple(cfg.pop("extend_exempt_fields", ()))
        for name in ("exempt_fields", "pseudonymize_fields"):
            if name in cfg:
                cfg[name] = tuple(cfg[name])
        policy = cls(**cfg, hmac_key=key)
        if extend:
            policy = cls(**{**{f.name: getattr(policy, f.name) for f in fields(cls)},
                            "exempt_fields": policy.exempt_fields + extend})
        policy.compiled  # noqa: B018  (compile now: a bad pattern fails at load, naming itself)
        return policy

    @classmethod
    def from_toml(cls, path: str | Path, table: str | None = "mask") -> MaskPolicy:
        """Load from a TOML file: the settings of table ``[mask]`` (the whole file if None)."""
        try:
            data = tomllib.loads(Path(path).read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"mask policy: {path} is not valid TOML: {exc}") from exc
        if table:
            data = data.get(table, {})
        return cls.from_dict(data)

    @cached_property
    def compiled(self) -> _Compiled:
        return _Compiled(self)

    def marker(self, kind: str, value: str) -> str:
        if self.hmac_key is None:
            return f"{MARKER_PREFIX}{kind}]"
        digest = hmac.new(self.hmac_key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
        return f"{MARKER_PREFIX}{kind}:{digest[: self.token_hex_chars]}]"


def _glob(pattern: str) -> re.Pattern:
    parts = [".*" if p == "*" else re.escape(p) for p in re.split(r"(\*)", pattern)]
    return re.compile("".join(parts) + r"\Z")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_prefix_ok(d: str) -> bool:
    if d[0] in "3456":
        return True
    return d[0] == "2" and 2221 <= int(d[:4]) <= 2720


CARD_RE = re.compile(r"(?<![\w])(?<!\d[ -])\d(?:[ -]?\d){12,18}(?![\w])(?![ -]\d)")
EMAIL_RE = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
# the scheme is bounded (RFC 3986 schemes are short): unbounded, a long run of scheme characters
# was tried from every offset, O(n^2) (100 kB of 'a.' took 28 s)
URL_RE = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s\"'<>]+")
KV_RE = re.compile(
    # a key starts where a run of key characters starts: tried from inside a run too, a long run
    # of word characters cost 64 steps a character (a 700 kB line took seconds)
    r"(?<![A-Za-z0-9_.\-])(?P<q>[\"']?)(?P<key>[A-Za-z_][A-Za-z0-9_.\-]{0,63})(?P=q)(?P<sep>\s*[:=]\s*)"
    # An unquoted value runs to whitespace (passwords hold & ; , too) or to a `&key=` that
    # starts the next parameter, less trailing punctuation closing a list or a bracket:
    # over-masking a little beats leaking the end of a secret.
    # The value is matched possessively, a run of closing punctuation inside it only when a value
    # character follows: a lazy value re-scanned the punctuation ahead at every character, O(n^2)
    # (a 20 kB run of ')' took 7 s, 80 kB of ';' a minute).
    r"(?P<val>\"(?:[^\"\\]|\\.)*\"|'[^']*'|(?!\[MASKED:)[^\s\"'{}\[\],;&)]"
    r"(?:[,;)]*+(?:[^\s\"'{}\[\],;&)]|&(?![A-Za-z_][\w.\-]*=)))*+"
    r"(?=[,;)\]}]*(?:[\s\"'}\]]|$)|[,;)]*&[A-Za-z_][\w.\-]*=))"
)
AUTH_SCHEME_RE = re.compile(r"(?i)\b(?P<scheme>bearer|basic)(?P<sp>\s+)(?P<cred>[A-Za-z0-9._~+/=-]{8,})")
JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
AWS_KEY_RE = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
# the body stops at the next BEGIN or END line: a lazy `.*?` ran to the end of the text from every
# BEGIN line without an END, O(n^2) (124 kB of BEGIN lines took 4 s)
PEM_RE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:[^-]|-(?!----(?:BEGIN|END) ))*+"
                    r"-----END [A-Z ]*PRIVATE KEY-----")
GOOGLE_KEY_RE = re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_KV_LITERALS = frozenset({"null", "true", "false", "none", ""})
# Cheap pre-checks: a detector's regex only runs on text that could hold its kind of value.
SECRET_HINT_RE = re.compile(r"(?i)pass|secret|token|key|sig|cred|auth|pin|cvv|cvc|otp|cookie|bearer|basic")
_NO_DIGITS = str.maketrans("", "", "0123456789")
TEXT_CACHE_ENTRIES = 50_000  # per policy; cleared when full
TEXT_CACHE_MAX_LEN = 256  # longer text (raw lines, messages) rarely repeats
QUERY_PARAM_RE = re.compile(r"(?P<lead>^|&)(?P<key>[^=&]+)=(?P<val>[^&#]*)")


_SCALARS = (int, float, bool)


def _blank(x: Any) -> bool:
    return x is None or x is True or x is False or x == ""


def _looks_json(s: str) -> bool:
    t = s.strip()
    return len(t) >= 2 and ((t[0] == "{" and t[-1] == "}") or (t[0] == "[" and t[-1] == "]"))


class _Compiled:
    """Regexes and path matchers compiled once per policy."""

    def __init__(self, policy: MaskPolicy):
        self.national = self._compile(policy.national_id_patterns if policy.national_ids else {})
        self.extra = self._compile(policy.extra_patterns)
        self._exempt = [_glob(p) for p in policy.exempt_fields]
        self._pseudo = [_glob(p) for p in policy.pseudonymize_fields]
        self._cache: dict[str, tuple[bool, bool]] = {}
        # free text -> (masked text, kinds found): events repeat most of their strings (names,
        # services, actions), and masking a string depends on nothing but the string
        self.text_cache: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.root = _Rules(self, "")

    @staticmethod
    def _compile(patterns: Mapping[str, str]) -> list[tuple[str, re.Pattern]]:
        out = []
        for name, rx in patterns.items():
            try:
                out.append((name, re.compile(rx)))
            except re.error as exc:
                raise ValueError(f"mask policy: pattern {name!r} is not a valid regex: {exc}") from exc
        return out

    def rules(self, path: str) -> tuple[bool, bool]:
        """(exempt, pseudonymize) for a glob path; memoized, as events repeat the same paths."""
        hit = self._cache.get(path)
        if hit is None:
            hit = (any(rx.match(path) for rx in self._exempt), any(rx.match(path) for rx in self._pseudo))
            if len(self._cache) < 100_000:
                self._cache[path] = hit
        return hit


class _Rules:
    """The exempt and pseudonymize rules of one glob path, with its children's made once: a
    walk steps from node to node by field name instead of formatting and matching each path."""

    __slots__ = ("c", "glob", "exempt", "pseudo", "_fields", "_item")
    MAX_FIELDS = 10_000  # per node; beyond that (map keys from input), children are not kept

    def __init__(self, c: _Compiled, glob: str):
        self.c, self.glob = c, glob
        self.exempt, self.pseudo = c.rules(glob)
        self._fields: dict[str, _Rules] = {}
        self._item: _Rules | None = None

    def field(self, name: str) -> _Rules:
        node = self._fields.get(name)
        if node is None:
            node = _Rules(self.c, f"{self.glob}.{name}" if self.glob else name)
            if len(self._fields) < self.MAX_FIELDS:
                self._fields[name] = node
        return node

    def item(self) -> _Rules:
        if self._item is None:
            self._item = _Rules(self.c, f"{self.glob}[]")
        return self._item


class _Masker:
    def __init__(self, policy: MaskPolicy):
        self.p = policy
        self.c = policy.compiled
        self.found: list[str] = []

    def note(self, kind: str, path: str) -> None:
        entry = f"{kind}@{path}"
        if entry not in self.found:
            self.found.append(entry)

    # --- free text --------------------------------------------------------------------

    def text(self, s: str, path: str) -> str:
        hit = self.c.text_cache.get(s)  # only free text is cached, so a hit is never JSON to walk
        if hit is not None:
            for kind in hit[1]:
                self.note(kind, path)
            return hit[0]
        if len(s) < 6 and not self.c.extra:  # shorter than any built-in detector's match, or
            return s                          # than a JSON member with a sensitive name
        p = self.p
        if p.json_strings and _looks_json(s):
            try:
                doc = json.loads(s)
            except ValueError:
                doc = None
            if isinstance(doc, dict | list):
                before = len(self.found)
                doc = self.json_value(doc, path)
                if len(self.found) == before:
                    return s
                out = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
                if not out.isascii() and _SURROGATE_RE.search(out):
                    # a lone surrogate ("\\ud800" in the source) stays escaped: raw, UTF-8 cannot hold it
                    out = json.dumps(doc, separators=(",", ":"))
                return out
        return self.free_text(s, path)

    def free_text(self, s: str, path: str) -> str:
        cache = self.c.text_cache
        hit = cache.get(s)
        if hit is None:
            scan = _Masker(self.p)
            hit = (scan._free_text(s, ""), tuple(f.partition("@")[0] for f in scan.found))
            if len(s) <= TEXT_CACHE_MAX_LEN:
                if len(cache) >= TEXT_CACHE_ENTRIES:
                    cache.clear()
                cache[s] = hit
        for kind in hit[1]:
            self.note(kind, path)
        return hit[0]

    def _free_text(self, s: str, path: str) -> str:
        p = self.p
        mark = p.marker
        if p.secrets and SECRET_HINT_RE.search(s):
            if "-----BEGIN" in s:
                s = PEM_RE.sub(lambda m: self._hit("secret", path, mark("secret", m.group(0))), s)
            if "://" in s:
                s = URL_RE.sub(lambda m: self.url(m.group(0), path), s)
            if "=" in s or ":" in s:
                s = KV_RE.sub(lambda m: self.kv(m, path), s)
            s = AUTH_SCHEME_RE.sub(lambda m: self.auth(m, path), s)
            if "AIza" in s:
                s = GOOGLE_KEY_RE.sub(lambda m: self._hit("secret", path, mark("secret", m.group(0))), s)
        if p.jwts and "eyJ" in s:
            s = JWT_RE.sub(lambda m: self._hit("jwt", path, mark("jwt", m.group(0))), s)
        if p.aws_access_keys and ("AKIA" in s or "ASIA" in s):
            s = AWS_KEY_RE.sub(
                lambda m: self._hit("aws_access_key", path, mark("aws_access_key", m.group(0))), s)
        if p.emails and "@" in s:
            s = EMAIL_RE.sub(lambda m: self._hit("email", path, mark("email", m.group(0))), s)
        digits = len(s) - len(s.translate(_NO_DIGITS))
        if p.card_numbers and digits >= 13:
            s = CARD_RE.sub(lambda m: self.card(m, path), s)
        # Built-in and configured national ids all have at least 6 digits; extra_patterns run always.
        for kind, rx in (self.c.national + self.c.extra) if digits >= 6 else self.c.extra:
            s = rx.sub(lambda m, kind=kind: self._hit(kind, path, mark(kind, m.group(0))), s)
        return s

    def _hit(self, kind: str, path: str, replacement: str) -> str:
        self.note(kind, path)
        return replacement

    def card(self, m: re.Match, path: str) -> str:
        digits = re.sub(r"[ -]", "", m.group(0))
        if not (13 <= len(digits) <= 19 and _card_prefix_ok(digits) and luhn_ok(digits)):
            return m.group(0)
        self.note("card_number", path)
        return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]

    def kv(self, m: re.Match, path: str) -> str:
        key, val = m.group("key"), m.group("val")
        if not is_sensitive_key(key) or key.lower() in ("authorization", "proxy-authorization"):
            return m.group(0)
        quote = val[0] if val[:1] in "\"'" else ""
        inner = val[1:-1] if quote else val
        if inner.lower() in _KV_LITERALS or inner.startswith(MARKER_PREFIX):
            return m.group(0)
        if not quote and m.group("q") == '"':  # JSON text with an unquoted value (a number): stay JSON
            quote = '"'
        self.note("secret", path)
        q = m.group("q")
        return f"{q}{key}{q}{m.group('sep')}{quote}{self.p.marker('secret', inner)}{quote}"

    def auth(self, m: re.Match, path: str) -> str:
        cred = m.group("cred")
        if m.group("scheme").lower() == "basic":
            try:
                is_cred = b":" in base64.b64decode(cred, validate=True)  # base64 of user:password
            except ValueError:
                is_cred = False
        else:
            is_cred = len(cred) >= 20 or any(ch.isdigit() or ch in "._~+/=-" for ch in cred)
        if not is_cred:
            return m.group(0)  # a word ("basic authentication"), not a credential
        self.note("secret", path)
        return f"{m.group('scheme')}{m.group('sp')}{self.p.marker('secret', m.group('cred'))}"

    def url(self, u: str, path: str) -> str:
        try:
            parts = urlsplit(u)
            password = parts.password
        except ValueError:
            return u
        if password and not password.startswith(MARKER_PREFIX):
            netloc = parts.netloc
            at = netloc.rfind("@")
            userinfo = netloc[:at]
            user = userinfo.split(":", 1)[0]
            self.note("secret", path)
            u = u.replace(netloc, f"{user}:{self.p.marker('secret', password)}{netloc[at:]}", 1)
        if parts.query:
            query = QUERY_PARAM_RE.sub(lambda m: self.query_param(m, path), parts.query)
            if query != parts.query:
                u = u.replace("?" + parts.query, "?" + query, 1)
        return u

    def query_param(self, m: re.Match, path: str) -> str:
        val = m.group("val")
        if not val or val.startswith(MARKER_PREFIX) or not is_sensitive_key(m.group("key")):
            return m.group(0)
        self.note("secret", path)
        return f"{m.group('lead')}{m.group('key')}={self.p.marker('secret', val)}"

    # --- structured values ---------------------------------------------------------------

    def json_value(self, v: Any, path: str) -> Any:
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                sensitive = is_sensitive_key(str(k))
                if not sensitive and (x is None or type(x) in _SCALARS):  # most leaves: no call
                    out[k] = x
                    continue
                sub = f"{path}.{k}"
                if not sensitive and type(x) is str:
                    out[k] = self.text(x, sub)
                elif sensitive and not _blank(x) and not isinstance(x, dict | list):
                    if isinstance(x, str) and x.startswith(MARKER_PREFIX):
                        out[k] = x
                    else:
                        self.note("secret", sub)
                        out[k] = self.p.marker("secret", str(x))
                elif sensitive and isinstance(x, dict | list):
                    out[k] = self.secret_tree(x, sub)
                else:
                    out[k] = self.json_value(x, sub)
            return out
        if isinstance(v, list):
            return [self.json_value(x, f"{path}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, str):
            return self.text(v, path)
        return v

    def secret_tree(self, v: Any, path: str) -> Any:
        """Every scalar below a sensitive name (e.g. ``credentials: {...}``) is a secret."""
        if isinstance(v, dict):
            return {k: self.secret_tree(x, f"{path}.{k}") for k, x in v.items()}
        if isinstance(v, list):
            return [self.secret_tree(x, f"{path}[{i}]") for i, x in enumerate(v)]
        if _blank(v) or (isinstance(v, str) and v.startswith(MARKER_PREFIX)):
            return v
        self.note("secret", path)
        return self.p.marker("secret", str(v))

    def event_value(self, v: Any, path: str, node: _Rules) -> Any:
        if v is None or type(v) in _SCALARS:  # nothing to mask, whatever the rules say
            return v
        if node.exempt:
            return copy.deepcopy(v) if isinstance(v, dict | list) else v
        if isinstance(v, dict):
            return self.record(v, path, node)
        if isinstance(v, list):
            item = node.item()
            return [self.event_value(x, f"{path}[{i}]", item) for i, x in enumerate(v)]
        if isinstance(v, str):
            if node.pseudo:
                if v.startswith(MARKER_PREFIX):
                    return v
                self.note("pseudonym", path)
                return self.p.marker("pseudonym", v)
            return self.text(v, path)
        return v

    def record(self, v: Mapping[str, Any], path: str, node: _Rules) -> dict:
        """A record's fields; path "" is the event itself."""
        out = {}
        for k, x in v.items():
            # scalars, and strings under no rule, are taken here: most of an event's values
            if x is None or type(x) in _SCALARS:
                out[k] = x
                continue
            child = node.field(k)
            sub = f"{path}.{k}" if path else k
            if type(x) is str and not (child.exempt or child.pseudo):
                out[k] = self.text(x, sub)
            elif k == "unmapped" and not path and isinstance(x, Mapping) and not child.exempt:
                out[k] = self.unmapped(x, self.p.record_key)
            else:
                out[k] = self.event_value(x, sub, child)
        return out

    def unmapped(self, m: Mapping[str, Any], record_key: str | None) -> dict:
        out = {}
        for k, v in m.items():
            path = f"unmapped[{k}]"
            if k == record_key or not isinstance(v, str) or self.c.rules(path)[0]:
                out[k] = v
            elif is_sensitive_key(k) and v and not v.startswith(MARKER_PREFIX) and not _looks_json(v):
                self.note("secret", path)
                out[k] = self.p.marker("secret", v)
            elif is_sensitive_key(k) and _looks_json(v):
                try:
                    out[k] = json.dumps(self.secret_tree(json.loads(v), path), ensure_ascii=False,
                                        separators=(",", ":"))
                except ValueError:
                    self.note("secret", path)
                    out[k] = self.p.marker("secret", v)
            else:
                out[k] = self.text(v, path)
        return out


def mask_event(event: Mapping[str, Any], policy: MaskPolicy | None = None) -> tuple[dict, list[str]]:
    """Mask every string in ``event`` (except exempt fields) under ``policy``.

    Returns (masked deep copy, list of ``kind@path`` masked by this call). Idempotent:
    ``mask_event(mask_event(e, p)[0], p)`` returns the same event and an empty list."""
    policy = policy or MaskPolicy()
    if not policy.enabled:
        return copy.deepcopy(dict(event)), []
    m = _Masker(policy)
    out = m.record(event, "", m.c.root)
    if m.found and policy.record_key:
        unmapped = dict(out.get("unmapped") or {})
        previous = [x for x in (unmapped.get(policy.record_key) or "").split(",") if x]
        unmapped[policy.record_key] = ",".join(previous + [x for x in m.found if x not in previous])
        out["unmapped"] = unmapped
    return out, m.found


def mask_text(text: str, policy: MaskPolicy | None = None, path: str = "text") -> tuple[str, list[str]]:
    """Mask one free-text string (JSON strings are walked too); returns (text, found)."""
    m = _Masker(policy or MaskPolicy())
    return m.text(text, path), m.found
