"""A pySigma backend that writes a Sigma rule's detection as a Flink SQL boolean expression over
the `events` view (sql/ddl/detect_events_view.sql).

Field names arrive already mapped to view expressions by the logsource pipelines
(udfs/detect/sigma/pipelines.py); this module only writes SQL. Sigma's semantics, kept exactly:
- string matching is case-insensitive unless `|cased`: `LOWER(expr) = 'v'` or `LOWER(expr) LIKE
  'p' ESCAPE '\\'` (`*` -> `%`, `?` -> `_`, literal `%`, `_`, `\\` escaped);
- a field that is absent never matches, also under `not`: SQL's NULL would make `NOT (x = 'a')`
  unknown for a missing x, so a negation is written `(...) IS NOT TRUE` (two-valued);
- keywords (values without a field) search the text columns (`message`, `raw_data`);
- `re` is Flink's REGEXP (Java regex, unanchored like Sigma's), flags as an inline `(?ims)`;
- `cidr` is expanded by pySigma into address prefixes (LIKE), exact for IPv4 and IPv6;
- `lt`/`gt`/... compare numerically (`TRY_CAST(expr AS DOUBLE)` for text values).
Anything without a faithful Flink SQL form raises SigmaFeatureNotSupportedByBackendError (or
pySigma's own error), naming the construct: the rule fails, no approximate query is written.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.deferred import DeferredQueryExpression
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCompareExpression,
    SigmaFieldReference,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
    TimestampPart,
)

# View columns that are not STRING (sql/ddl/detect_events_view.sql); every other expression is text.
NUMERIC_COLUMNS = frozenset({"class_uid", "category_uid", "activity_id", "type_uid", "severity_id",
                             "status_id", "lateness_ms", "chain_seq", "geo_lat", "geo_lon"})
BOOLEAN_COLUMNS = frozenset({"is_mfa", "geo_is_private", "user_privileged", "user_known"})
TIMESTAMP_COLUMNS = frozenset({"event_time"})
# Full-text columns a keyword (a value without a field) is searched in.
KEYWORD_COLUMNS = ("message", "raw_data")
# An expression of ARRAY<STRING> (e.g. the auditd record types of an event): `=` is membership.
ARRAY_PREFIX = "SPLIT("
# The JSON text of a list of values (pipelines._json_any): presence and substrings only, an
# exact value would compare with the whole list
JSON_LIST_PREFIX = "NULLIF(JSON_QUERY("


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def unsupported(what: str, cond: Any = None) -> SigmaFeatureNotSupportedByBackendError:
    source = getattr(cond, "source", None)
    return SigmaFeatureNotSupportedByBackendError(what, source=source)


class FlinkSQLBackend(TextQueryBackend):
    """Sigma detection -> Flink SQL WHERE expression over `events` (one per condition)."""

    name: ClassVar[str] = "Flink SQL over the auditflow events view"
    formats: ClassVar[dict[str, str]] = {"default": "a boolean Flink SQL expression"}
    requires_pipeline: ClassVar[bool] = True

    precedence: ClassVar[tuple[type[ConditionItem], type[ConditionItem], type[ConditionItem]]] = (
        ConditionNOT, ConditionAND, ConditionOR)
    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = " = "
    str_quote: ClassVar[str] = "'"
    escape_char: ClassVar[str] = "\\"
    wildcard_multi: ClassVar[str] = "%"
    wildcard_single: ClassVar[str] = "_"
    re_flags: dict[SigmaRegularExpressionFlag, str] = {
        SigmaRegularExpressionFlag.IGNORECASE: "i",
        SigmaRegularExpressionFlag.MULTILINE: "m",
        SigmaRegularExpressionFlag.DOTALL: "s",
    }
    compare_operators: ClassVar[dict[CompareOperators, str]] = {
        CompareOperators.LT: "<", CompareOperators.LTE: "<=",
        CompareOperators.GT: ">", CompareOperators.GTE: ">=", CompareOperators.NEQ: "<>",
    }
    timestamp_part_mapping: ClassVar[dict[TimestampPart, str]] = {
        TimestampPart.MINUTE: "MINUTE", TimestampPart.HOUR: "HOUR", TimestampPart.DAY: "DAY",
        TimestampPart.WEEK: "WEEK", TimestampPart.MONTH: "MONTH", TimestampPart.YEAR: "YEAR",
    }
    field_null_expression: ClassVar[str] = "{field} IS NULL"
    field_exists_expression: ClassVar[str] = "{field} IS NOT NULL"
    field_not_exists_expression: ClassVar[str] = "{field} IS NULL"

    # ------------------------------------------------------------------ building blocks
    @staticmethod
    def kind(expr: str) -> str:
        if expr in NUMERIC_COLUMNS:
            return "number"
        if expr in BOOLEAN_COLUMNS:
            return "boolean"
        if expr in TIMESTAMP_COLUMNS:
            return "timestamp"
        if expr.startswith(ARRAY_PREFIX):
            return "array"
        if expr.startswith(JSON_LIST_PREFIX):
            return "json list"
        return "string"

    def escape_and_quote_field(self, field_name: str) -> str:
        return field_name  # the pipelines map every field to a view expression

    @staticmethod
    def like_pattern(value: SigmaString, lower: bool) -> tuple[bool, str]:
        """(has wildcards, the LIKE pattern if so else the plain literal), unquoted."""
        plain: list[str] = []
        pattern: list[str] = []
        for part in value.s:
            if isinstance(part, str):
                text = part.lower() if lower else part
                plain.append(text)
                pattern.append(text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
            elif part is SpecialChars.WILDCARD_MULTI:
                pattern.append("%")
            elif part is SpecialChars.WILDCARD_SINGLE:
                pattern.append("_")
            elif isinstance(part, Placeholder):
                raise unsupported(f"placeholder %{part.name}% (expand it with a pipeline first)")
        wild = len(plain) != len(value.s)
        return wild, "".join(pattern) if wild else "".join(plain)

    def string_match(self, expr: str, value: SigmaString, cased: bool, cond: Any = None) -> str:
        kind = self.kind(expr)
        if kind == "array":
            wild, text = self.like_pattern(value, lower=False)
            if wild:
                raise unsupported(f"a wildcard value on the list field {expr}", cond)
            return f"ARRAY_CONTAINS({expr}, {sql_string(text.upper())})"
        if kind == "boolean":
            wild, text = self.like_pattern(value, lower=True)
            if wild or text not in ("true", "false"):
                raise unsupported(f"the value {value.original!r} on the boolean column {expr}", cond)
            return f"{expr} = {text.upper()}"
        if kind == "number":
            wild, text = self.like_pattern(value, lower=True)
            if wild:
                raise unsupported(f"a wildcard value on the numeric column {expr}", cond)
            try:
                number = int(text)
            except ValueError:
                raise unsupported(f"the value {value.original!r} on the numeric column {expr}",
                                  cond) from None
            return f"{expr} = {number}"
        if kind == "timestamp":
            raise unsupported(f"a string value on the timestamp column {expr}", cond)
        wild, text = self.like_pattern(value, lower=not cased)
        if kind == "json list" and text != "%":
            # inside JSON text a value is found as is unless JSON escapes it (quotes, backslashes)
            escaped = any(isinstance(p, str) and ('"' in p or "\\" in p) for p in value.s)
            if not (wild and text.startswith("%") and text.endswith("%")) or escaped:
                raise unsupported(f"{value.original!r} on a field holding a list of values ({expr}): only"
                                  " presence and `contains` of text without quotes or backslashes", cond)
        target = expr if cased else f"LOWER({expr})"
        if not wild:
            return f"{target} = {sql_string(text)}"
        if text == "%":  # `field: '*'`: any value, i.e. the field is present
            return f"{expr} IS NOT NULL"
        return f"{target} LIKE {sql_string(text)} ESCAPE '\\'"

    # ------------------------------------------------------------------ conditions
    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> str:
        arg = cond.args[0]
        expr = self.convert_condition(arg, state)
        if expr is None or isinstance(expr, DeferredQueryExpression):
            raise unsupported("negation of an expression without a SQL form", cond)
        return f"({expr}) IS NOT TRUE"

    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        return self.string_match(cond.field, cond.value, cased=False, cond=cond)

    def convert_condition_field_eq_val_str_case_sensitive(self, cond: ConditionFieldEqualsValueExpression,
                                                          state: ConversionState) -> str:
        return self.string_match(cond.field, cond.value, cased=True, cond=cond)

    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        value: SigmaNumber = cond.value
        kind = self.kind(cond.field)
        if kind == "number":
            return f"{cond.field} = {value.number}"
        if kind == "string":
            return f"{cond.field} = {sql_string(str(value.number))}"
        raise unsupported(f"a number on the {kind} column {cond.field}", cond)

    def convert_condition_field_eq_val_bool(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> str:
        value: SigmaBool = cond.value
        kind = self.kind(cond.field)
        if kind == "boolean":
            return f"{cond.field} = {'TRUE' if value.boolean else 'FALSE'}"
        if kind == "string":
            return f"LOWER({cond.field}) = {sql_string(str(value.boolean).lower())}"
        raise unsupported(f"a boolean on the {kind} column {cond.field}", cond)

    def convert_value_re(self, r: SigmaRegularExpression, state: ConversionState) -> str:
        flags = "".join(sorted(self.re_flags[f] for f in r.flags))
        return sql_string((f"(?{flags})" if flags else "") + str(r.regexp))

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression,
                                          state: ConversionState) -> str:
        if self.kind(cond.field) != "string":
            raise unsupported(f"a regular expression on the non-text column {cond.field}", cond)
        return f"REGEXP({cond.field}, {self.convert_value_re(cond.value, state)})"

    convert_condition_field_eq_val_re_contains = convert_condition_field_eq_val_re

    def convert_condition_field_compare_op_val(self, cond: ConditionFieldEqualsValueExpression,
                                               state: ConversionState) -> str:
        value: SigmaCompareExpression = cond.value
        number = value.number
        if not isinstance(number, SigmaNumber):
            raise unsupported("a comparison with a timestamp part", cond)
        kind = self.kind(cond.field)
        if kind == "number":
            left = cond.field
        elif kind == "string":
            left = f"TRY_CAST({cond.field} AS DOUBLE)"
        else:
            raise unsupported(f"a numeric comparison on the {kind} column {cond.field}", cond)
        return f"{left} {self.compare_operators[value.op]} {number.number}"

    def convert_condition_field_eq_val_timestamp_part(self, cond: ConditionFieldEqualsValueExpression,
                                                      state: ConversionState) -> str:
        if self.kind(cond.field) != "timestamp":
            raise unsupported(f"a timestamp part of the non-time column {cond.field}", cond)
        part = self.timestamp_part_mapping[cond.value.timestamp_part]
        return f"EXTRACT({part} FROM {cond.field}) = {cond.value.number}"

    def convert_condition_field_eq_field(self, cond: ConditionFieldEqualsValueExpression,
                                         state: ConversionState) -> str:
        ref: SigmaFieldReference = cond.value
        if self.kind(cond.field) != "string" or self.kind(ref.field) != "string":
            raise unsupported("a field reference between non-text columns", cond)
        a, b = f"LOWER({cond.field})", f"LOWER({ref.field})"
        if ref.starts_with and ref.ends_with:  # |fieldref|contains
            return f"POSITION({b} IN {a}) > 0"
        if ref.starts_with:  # |fieldref|startswith: the field starts with the other's value
            return f"POSITION({b} IN {a}) = 1"
        if ref.ends_with:
            return (f"CHAR_LENGTH({a}) >= CHAR_LENGTH({b})"
                    f" AND SUBSTRING({a} FROM CHAR_LENGTH({a}) - CHAR_LENGTH({b}) + 1) = {b}")
        return f"{a} = {b}"

    def convert_condition_field_eq_val_null(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> str:
        return f"{cond.field} IS NULL"

    def convert_condition_field_eq_query_expr(self, cond, state):
        raise unsupported("query expressions (backend-specific placeholders)", cond)

    def convert_condition_query_expr(self, cond, state):
        raise unsupported("query expressions (backend-specific placeholders)", cond)

    # keywords: values not bound to a field, searched in every text column
    def _keyword(self, cond: ConditionValueExpression, one) -> str:
        return "(" + " OR ".join(one(col) for col in KEYWORD_COLUMNS) + ")"

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        value: SigmaString = cond.value
        if not value.startswith(SpecialChars.WILDCARD_MULTI):
            value = SpecialChars.WILDCARD_MULTI + value
        if not value.endswith(SpecialChars.WILDCARD_MULTI):
            value = value + SpecialChars.WILDCARD_MULTI
        cased = type(cond.value).__name__ == "SigmaCasedString"
        return self._keyword(cond, lambda col: self.string_match(col, value, cased, cond))

    def convert_condition_val_num(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        value = SigmaString("*" + str(cond.value.number) + "*")
        return self._keyword(cond, lambda col: self.string_match(col, value, False, cond))

    def convert_condition_val_re(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        regex = self.convert_value_re(cond.value, state)
        return self._keyword(cond, lambda col: f"REGEXP({col}, {regex})")

    def finalize_query_default(self, rule, query: Any, index: int, state: ConversionState) -> str:
        if state.has_deferred():
            raise unsupported("deferred query parts (applied after the main query)")
        return query
