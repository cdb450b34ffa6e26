"""Sigma correlation rules compiled to streaming Flink SQL over the `events` view.

A correlation rule (Sigma spec 2.x, pySigma `SigmaCorrelationRule`) counts or orders the
matches of other Sigma rules. Each referenced rule becomes one branch of a UNION ALL over
`events` (its detection as a WHERE clause, from the base-rule backend), tagged with its
position (`corr_rule`) and its group-by values (`g_0`, `g_1`, ...; `aliases` name a different
field per rule). Every branch keeps the rowtime, so the union can feed:

* `event_count` (gte/gt N): MATCH_RECOGNIZE `PATTERN (E{N}) WITHIN timespan` per tenant and
  group, as AUTH-001 does: N matches at most `timespan` apart (inclusive, as in the OVER
  windows below; `pattern_within`), exactly, never bucketed; the next
  match counts from the event after the last one (matches do not overlap).
* `temporal_ordered`: MATCH_RECOGNIZE `PATTERN (R0 X1*? R1 X2*? R2 ...) WITHIN timespan`, the
  referenced rules in their listed order, other events of the group allowed in between.
* `value_count`, `temporal`, `value_sum`, `value_avg` (gte/gt): an OVER window over the
  `timespan` ending at each event (`RANGE BETWEEN timespan PRECEDING AND CURRENT ROW`), so every
  window that can hold a match is looked at; a row is emitted when the condition becomes true
  for the group (it did not hold at the group's previous event), one per episode, not one per
  event while it holds. For value_count and temporal that is exact (the property only grows
  with more events); value_sum and value_avg are the sum / average over the timespan before
  each event, said so in the rule's description.

Every query partitions by tenant_id first (tenant isolation) and keeps only events with every
group-by value present. Anything else (lt/lte/eq/neq conditions, extended conditions, a
correlation over a correlation, `value_percentile`/`value_median`, a list of condition fields)
raises `CorrelationError` with the reason: the rule is reported unsupported, never compiled
into a query that means something else.

`compile_correlation(rule, where, column)` is called by the import for each correlation rule;
`where(sigma_rule)` is the base backend's WHERE clause of one rule's detection over `events`,
`column(sigma_rule, field)` the `events` column (SQL expression) a Sigma field of that rule's
logsource maps to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
    SigmaRuleReference,
)
from sigma.rule import SigmaRule

Where = Callable[[SigmaRule], str]
Column = Callable[[SigmaRule, str], str]

EVIDENCE_ROW = "ROW({p}event_id, {p}chain_id, {p}chain_seq, {p}event_hash)"
# MATCH_RECOGNIZE keeps N events per partition and match attempt; beyond this the state per
# user/address gets large for a threshold nobody writes in a streaming rule.
MAX_EVENT_COUNT = 1000
OVER_TYPES = {SigmaCorrelationType.VALUE_COUNT: "value_count", SigmaCorrelationType.TEMPORAL: "temporal",
              SigmaCorrelationType.VALUE_SUM: "value_sum", SigmaCorrelationType.VALUE_AVG: "value_avg"}
# Types whose OVER form is the aggregate over the timespan before each event, not over any window.
TRAILING_ONLY = {SigmaCorrelationType.VALUE_SUM: "sum", SigmaCorrelationType.VALUE_AVG: "average"}


class CorrelationError(ValueError):
    """A correlation rule this compiler does not turn into SQL; the message is the reason."""


@dataclass(frozen=True)
class CompiledCorrelation:
    sql: str            # one SELECT with the output contract's columns (sql/detections/README.md)
    input: str          # the referenced rules' predicates OR-ed: the `input:` header (late events)
    note: str | None    # words to add to the description when the semantics need saying
    entity_type: str    # what entity_value holds: the group-by fields, or `tenant`


def interval(seconds: int) -> str:
    """A Flink INTERVAL literal of `seconds`, in the largest exact unit (precision as needed)."""
    for unit, size in (("DAY", 86_400), ("HOUR", 3_600), ("MINUTE", 60), ("SECOND", 1)):
        if seconds % size == 0:
            n = seconds // size
            precision = f"({len(str(n))})" if n > 99 else ""
            return f"INTERVAL '{n}' {unit}{precision}"
    raise AssertionError("unreachable: every integer is a multiple of 1")


def pattern_within(seconds: int) -> str:
    """WITHIN for MATCH_RECOGNIZE: Flink ends a match attempt once `timespan` has passed (events
    exactly `timespan` apart never match), while the OVER windows include their lower bound; one
    millisecond more makes both inclusive: events at most `timespan` apart correlate."""
    return f"INTERVAL '{seconds}.001' SECOND({max(2, len(str(seconds)))}, 3)"


def _threshold(rule: SigmaCorrelationRule) -> int | float:
    """The smallest value that satisfies the condition (gte N: N; gt N: N+1 for counts)."""
    cond = rule.condition
    if not isinstance(cond, SigmaCorrelationCondition):
        raise CorrelationError("extended (boolean) correlation conditions are not supported")
    if cond.op not in (SigmaCorrelationConditionOperator.GTE, SigmaCorrelationConditionOperator.GT):
        raise CorrelationError(
            f"condition '{cond.op.name.lower()}' is not supported: only gte/gt have a sliding form over"
            " a stream (a bound from above holds for any window with few events)")
    return cond.count


def _count_threshold(rule: SigmaCorrelationRule) -> int:
    n = _threshold(rule)
    if n != int(n):
        raise CorrelationError(f"a count condition needs a whole number, not {n}")
    n = int(n) + (1 if rule.condition.op is SigmaCorrelationConditionOperator.GT else 0)
    if n < 1:
        raise CorrelationError(f"condition {rule.condition.to_dict()} holds for no events at all")
    return n


def _field_for(rule: SigmaCorrelationRule, ref: SigmaRuleReference, name: str) -> str:
    """The field `name` (a group-by or condition field) means in the rule `ref`: its alias or itself."""
    alias = rule.aliases.aliases.get(name)
    if alias is None:
        return name
    for alias_ref, field in alias.mapping.items():
        if alias_ref.reference == ref.reference:
            return field
    raise CorrelationError(f"alias {name!r} names no field for rule {ref.reference!r}")


def _branches(rule: SigmaCorrelationRule, where: Where, column: Column, value_field: str | None
              ) -> tuple[list[str], list[str]]:
    """One SELECT per referenced rule (UNION ALL parts) and each rule's predicate."""
    refs = rule.referenced_rules or rule.rules or []
    if not refs:
        raise CorrelationError("the correlation references no rules")
    group = rule.group_by or []
    parts, predicates = [], []
    for i, ref in enumerate(refs):
        base = getattr(ref, "rule", None)
        if isinstance(base, SigmaCorrelationRule):
            raise CorrelationError(f"rule {ref.reference!r} is itself a correlation; chained correlations"
                                   " are not supported")
        if not isinstance(base, SigmaRule):
            raise CorrelationError(f"referenced rule {ref.reference!r} was not found among the"
                                   " rules imported")
        predicate = where(base).replace("\n", "\n    ")  # the base clause's lines, indented
        cols = [f"CAST({column(base, _field_for(rule, ref, g))} AS STRING) AS g_{k}"
                for k, g in enumerate(group)]
        present = [f"{column(base, _field_for(rule, ref, g))} IS NOT NULL" for g in group]
        if value_field is not None:
            # text in every branch (the union needs one type); value_sum/avg read it as a number
            cols.append(f"CAST({column(base, _field_for(rule, ref, value_field))} AS STRING) AS corr_value")
        extra = "".join(", " + c for c in cols)
        cond = " AND ".join([f"({predicate})", *present])
        parts.append(f"    SELECT *, {i} AS corr_rule{extra} FROM events\n    WHERE {cond}")
        predicates.append(f"({predicate})")
    return parts, predicates


def _entity(rule: SigmaCorrelationRule) -> tuple[str, str]:
    """entity_type and the entity_value expression over the partition columns."""
    group = rule.group_by or []
    if not group:
        return "tenant", "tenant_id"
    if len(group) == 1:
        return group[0], "g_0"
    return "+".join(group), "CONCAT_WS('|', " + ", ".join(f"g_{k}" for k in range(len(group))) + ")"


def compile_correlation(rule: SigmaCorrelationRule, where: Where, column: Column) -> CompiledCorrelation:
    """The Flink SQL of one correlation rule (see the module doc); CorrelationError if unsupported."""
    ctype = rule.type
    value_field = None
    if ctype in (SigmaCorrelationType.VALUE_COUNT, SigmaCorrelationType.VALUE_SUM,
                 SigmaCorrelationType.VALUE_AVG):
        fieldref = rule.condition.fieldref if isinstance(rule.condition, SigmaCorrelationCondition) else None
        if not isinstance(fieldref, str):
            raise CorrelationError(f"{ctype.name.lower()} needs one condition field, got {fieldref!r}")
        value_field = fieldref
    elif ctype not in (SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.TEMPORAL,
                       SigmaCorrelationType.TEMPORAL_ORDERED):
        raise CorrelationError(f"correlation type {ctype.name.lower()} is not supported (no streaming"
                               " percentile/median in Flink SQL)")
    parts, predicates = _branches(rule, where, column, value_field)
    entity_type, entity_value = _entity(rule)
    partition = ", ".join(["tenant_id", *(f"g_{k}" for k in range(len(rule.group_by or [])))])
    within = interval(rule.timespan.seconds)
    pattern = pattern_within(rule.timespan.seconds)
    head = "WITH matched AS (\n" + "\n    UNION ALL\n".join(parts) + "\n)"
    if ctype is SigmaCorrelationType.EVENT_COUNT:
        body, note = _event_count(rule, entity_type, entity_value, partition, pattern), None
    elif ctype is SigmaCorrelationType.TEMPORAL_ORDERED:
        body, note = _temporal_ordered(rule, len(parts), entity_type, entity_value, partition,
                                       pattern), None
    else:
        body, note = _over(rule, len(parts), entity_type, entity_value, partition, within)
    return CompiledCorrelation(sql=head + "\n" + body, input=" OR ".join(predicates), note=note,
                               entity_type=entity_type)


def _select(entity_type: str, entity_value: str) -> str:
    literal = entity_type.replace("'", "''")
    return ("SELECT\n    tenant_id,\n"
            f"    '{literal}' AS entity_type,\n    {entity_value} AS entity_value,\n"
            "    first_seen AS window_start,\n    last_seen + INTERVAL '0.001' SECOND AS window_end,\n"
            "    event_count,\n    evidence,\n    first_seen,\n    last_seen\n")


def _event_count(rule: SigmaCorrelationRule, entity_type: str, entity_value: str, partition: str,
                 within: str) -> str:
    n = _count_threshold(rule)
    if n > MAX_EVENT_COUNT:
        raise CorrelationError(f"event_count threshold {n} is above {MAX_EVENT_COUNT}"
                               " (pattern state per group)")
    return (
        _select(entity_type, entity_value)
        + "FROM matched\nMATCH_RECOGNIZE (\n"
        f"    PARTITION BY {partition}\n    ORDER BY event_time\n    MEASURES\n"
        "        FIRST(E.event_time) AS first_seen,\n        LAST(E.event_time) AS last_seen,\n"
        "        COUNT(E.event_id) AS event_count,\n"
        f"        ARRAY_AGG({EVIDENCE_ROW.format(p='E.')}) AS evidence\n"
        "    ONE ROW PER MATCH\n"
        "    -- matches never share an event; a storm is folded by the dedup window\n"
        "    AFTER MATCH SKIP PAST LAST ROW\n"
        f"    -- {n} matching events at most {rule.timespan.spec} apart\n"
        f"    PATTERN (E{{{n}}}) WITHIN {within}\n"
        "    DEFINE E AS TRUE\n)"
    )


def _temporal_ordered(rule: SigmaCorrelationRule, nrules: int, entity_type: str, entity_value: str,
                      partition: str, within: str) -> str:
    n = _count_threshold(rule)
    if n != nrules or rule.condition.op is not SigmaCorrelationConditionOperator.GTE:
        raise CorrelationError(f"temporal_ordered needs every referenced rule (condition gte {nrules}),"
                               f" not {rule.condition.to_dict()}")
    if nrules < 2:
        raise CorrelationError("temporal_ordered needs at least two referenced rules")
    pattern = " ".join(f"X{i}*? R{i}" if i else "R0" for i in range(nrules))
    measures = ",\n".join(
        ["        R0.event_time AS first_seen", f"        R{nrules - 1}.event_time AS last_seen"]
        + [f"        {EVIDENCE_ROW.format(p=f'R{i}.')} AS ev_{i}" for i in range(nrules)])
    defines = ",\n".join(f"        R{i} AS R{i}.corr_rule = {i}" for i in range(nrules))
    select = _select(entity_type, entity_value).replace(
        "    event_count,\n    evidence,\n",
        f"    CAST({nrules} AS BIGINT) AS event_count,\n"
        f"    ARRAY[{', '.join(f'ev_{i}' for i in range(nrules))}] AS evidence,\n")
    return (
        select + "FROM matched\nMATCH_RECOGNIZE (\n"
        f"    PARTITION BY {partition}\n    ORDER BY event_time\n    MEASURES\n{measures}\n"
        "    ONE ROW PER MATCH\n    AFTER MATCH SKIP PAST LAST ROW\n"
        f"    -- the rules in their listed order within {rule.timespan.spec}; other events may come between\n"
        f"    PATTERN ({pattern}) WITHIN {within}\n"
        f"    DEFINE\n{defines}\n)"
    )


def _over(rule: SigmaCorrelationRule, nrules: int, entity_type: str, entity_value: str, partition: str,
          within: str) -> tuple[str, str | None]:
    ctype = rule.type
    note = None
    if ctype is SigmaCorrelationType.VALUE_COUNT:
        measure, threshold = "COUNT(DISTINCT corr_value) OVER w", _count_threshold(rule)
        holds = f"measure >= {threshold}"
    elif ctype is SigmaCorrelationType.TEMPORAL:
        threshold = _count_threshold(rule)
        if threshold > nrules:
            raise CorrelationError(f"temporal condition {rule.condition.to_dict()} asks for more than the"
                                   f" {nrules} referenced rules")
        measure = " + ".join(f"MAX(CASE WHEN corr_rule = {i} THEN 1 ELSE 0 END) OVER w"
                             for i in range(nrules))
        holds = f"measure >= {threshold}"
    else:
        bound = _threshold(rule)
        op = ">" if rule.condition.op is SigmaCorrelationConditionOperator.GT else ">="
        agg = "SUM" if ctype is SigmaCorrelationType.VALUE_SUM else "AVG"
        measure = f"{agg}(TRY_CAST(corr_value AS DOUBLE)) OVER w"
        holds = f"measure {op} {float(bound)!r}"
        note = (f"Evaluated as the {TRAILING_ONLY[ctype]} of {rule.condition.fieldref} over the"
                f" {rule.timespan.spec} before each matching event (a sliding window ending at each event).")
    return (
        ", over_window AS (\n"
        f"    SELECT tenant_id, {', '.join(partition.split(', ')[1:]) + ', ' if ', ' in partition else ''}"
        "event_time,\n"
        f"        {measure} AS measure,\n"
        "        COUNT(*) OVER w AS event_count,\n"
        f"        ARRAY_AGG({EVIDENCE_ROW.format(p='')}) OVER w AS evidence,\n"
        "        MIN(event_time) OVER w AS first_seen\n"
        "    FROM matched\n"
        f"    WINDOW w AS (PARTITION BY {partition} ORDER BY event_time\n"
        f"                 RANGE BETWEEN {within} PRECEDING AND CURRENT ROW)\n"
        "), episodes AS (\n"
        f"    SELECT *, {holds} AS holds,\n"
        f"        LAG({holds}) OVER (PARTITION BY {partition} ORDER BY event_time) AS held_before\n"
        "    FROM over_window\n"
        ")\n"
        + _select(entity_type, entity_value).replace("    last_seen + INTERVAL", "    event_time + INTERVAL")
        .replace("    last_seen\n", "    event_time AS last_seen\n")
        + "FROM episodes\n"
        f"-- the first event at which the {rule.timespan.spec} before it satisfies the condition\n"
        "WHERE holds AND held_before IS NOT TRUE"
    ), note


# ------------------------------------------------------------------------------- rule files
def dedup_window(seconds: int) -> str:
    """The correlation's timespan as a rule header duration: a repeat within it folds."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def render_correlation(rule: SigmaCorrelationRule, compiled: CompiledCorrelation, rule_id: str,
                       source_note: str) -> str:
    """The rule file's text: the header the base rules get (compiler.render_rule), the
    correlation's input predicate for late events, and the compiled SELECT."""
    from udfs.detect.sigma import compiler

    level = rule.level.name.lower() if rule.level else "medium"
    refs = ", ".join(r.reference for r in (rule.referenced_rules or rule.rules or []))
    description = compiler._one_line(rule.description) or compiler._one_line(rule.title)
    if compiled.note:
        description += " " + compiled.note
    header: list[tuple[str, str]] = [
        ("id", rule_id),
        ("title", compiler._one_line(rule.title)),
        ("description", description),
        ("severity", level),
        ("mitre", ", ".join(compiler.mitre(rule))),
        ("compliance", compiler.DEFAULT_COMPLIANCE),
        ("dedup_window", dedup_window(rule.timespan.seconds)),
        ("owner", compiler.OWNER),
        ("input", compiler._one_line(compiled.input)),
        ("sigma_id", str(rule.id)),
        ("sigma_author", compiler._one_line(rule.author or "")),
        ("sigma_references", ", ".join(rule.references or [])),
        ("sigma_level", level),
        ("sigma_status", rule.status.name.lower() if rule.status else ""),
        ("sigma_tags", ", ".join(str(t) for t in rule.tags)),
        ("sigma_source", source_note),
    ]
    lines = [ln for key, value in header for ln in compiler._header_value(key, value)]
    group = ", ".join(rule.group_by or []) or "none"
    return "\n".join([
        *lines,
        "-- compiled by `auditflow rules import-sigma` (udfs/detect/sigma/correlation.py): change the"
        " Sigma rule and re-import",
        f"-- Sigma correlation {rule.type.name.lower()} of {refs} within {rule.timespan.spec},"
        f" group-by {group}, condition {compiler._one_line(str(rule.condition.to_dict()))}",
        compiled.sql, ""])


def render_fixture_skeleton(rule_id: str, compiled: CompiledCorrelation) -> str:
    from udfs.detect.sigma import compiler

    columns = ", ".join(compiler.read_columns(compiled.input))
    return f"""# Fixtures for {rule_id}, a Sigma correlation imported by `auditflow rules import-sigma`
# (sql/detections/sigma/README.md "Correlation rules"). Until `cases` holds a positive and a
# negative case the rule is PENDING: `auditflow rules test` lists it without running it and
# jobs/detect.py does not deploy it. Write the events of every referenced rule in the columns of
# the `events` view (sql/detections/README.md "Fixtures"); its group-by values must be present.
# The referenced rules read: {columns}
cases: []
#  - name: correlated
#    events:
#      - {{id: first, event_time: "2025-01-12T06:40:00Z", ...}}
#      - {{id: second, event_time: "2025-01-12T06:41:00Z", ...}}
#    expect:
#      - {{event_count: 2, evidence: [first, second]}}
#  - name: too_far_apart
#    events: [...]
#    expect: []
"""
