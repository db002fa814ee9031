"""The contract compiled to Arrow compute: a clean batch is proven clean without pandas or pandera.

The use case's pandera schema stays the one declaration of its contract. ``compile_contract``
reads it through pandera's public API only (a column's dtype, nullability and uniqueness, each
check's ``name`` and ``statistics``) and translates what this project's table knows: the built-in
checks of ``COLUMN_CHECKS`` and the cross-field rules declared with ``core.cross_field``. Every
other check (a custom function, a regex, a grouped check) is *refused*, with the reason, and a
contract with a refusal is never judged here: its batches all go to pandera.

Arrow gives a verdict, never a reason. ``typed_text_batch`` + ``broken_rules`` prove that every
rule holds for every row of a batch; when they cannot, the caller hands the batch to pandera
(``core.contract.validate_frame``), so reject reasons and reject reports stay pandera's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.compute as pc

from scoring_assets.core.cross_field import CROSS_FIELD_RULE, CrossFieldRule

ValueTest = Callable[[pa.Array], pa.Array]  # per value: True passes; False or null breaks the check

# What Arrow's string -> float64 cast accepts (decimal, exponent, inf/infinity/nan in any case);
# anything else is not a number. Same results as pandas.to_numeric, several times faster.
NUMBER_TEXT = r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:inf|infinity|nan))$"
# Whole numbers beyond this are clipped by the pandas path (core.contract): not proven here.
LARGEST_WHOLE_NUMBER = 2**53

# The contract dtypes a batch can be typed to here (as pandera spells them) and their Arrow types.
ARROW_TYPES = {"Int64": pa.int64(), "float64": pa.float64(), "string[pyarrow]": pa.string()}


def _isin(stats: dict, arrow_type: pa.DataType) -> ValueTest:
    allowed = pa.array(list(stats["allowed_values"]), arrow_type)
    return lambda values: pc.is_in(values, value_set=allowed)


def _notin(stats: dict, arrow_type: pa.DataType) -> ValueTest:
    forbidden = pa.array(list(stats["forbidden_values"]), arrow_type)
    return lambda values: pc.invert(pc.is_in(values, value_set=forbidden))


def _in_range(stats: dict, arrow_type: pa.DataType) -> ValueTest:
    above = pc.greater_equal if stats["include_min"] else pc.greater
    below = pc.less_equal if stats["include_max"] else pc.less
    return lambda values: pc.and_(above(values, stats["min_value"]), below(values, stats["max_value"]))


def _str_length(stats: dict, arrow_type: pa.DataType) -> ValueTest:
    """As pandera's: the exact length when given, else whichever of the bounds are given."""
    exact, shortest, longest = stats["exact_value"], stats["min_value"], stats["max_value"]
    if exact is None and shortest is None and longest is None:
        raise ValueError("str_length without a bound")

    def test(values: pa.Array) -> pa.Array:
        lengths = pc.utf8_length(values)
        if exact is not None:
            return pc.equal(lengths, exact)
        passes = pc.greater_equal(lengths, shortest if shortest is not None else 0)
        return passes if longest is None else pc.and_(passes, pc.less_equal(lengths, longest))

    return test


def _compared(compare: Callable, statistic: str) -> Callable[[dict, pa.DataType], ValueTest]:
    return lambda stats, arrow_type: lambda values: compare(values, stats[statistic])


# pandera's built-in check name -> its reading in Arrow, built from the check's public statistics and
# the column's Arrow type. The translation table: a check not named here is refused.
COLUMN_CHECKS: dict[str, Callable[[dict, pa.DataType], ValueTest]] = {
    "isin": _isin,
    "notin": _notin,
    "in_range": _in_range,
    "str_length": _str_length,
    "greater_than_or_equal_to": _compared(pc.greater_equal, "min_value"),
    "greater_than": _compared(pc.greater, "min_value"),
    "less_than_or_equal_to": _compared(pc.less_equal, "max_value"),
    "less_than": _compared(pc.less, "max_value"),
    "equal_to": _compared(pc.equal, "value"),
    "not_equal_to": _compared(pc.not_equal, "value"),
}


@dataclass(frozen=True)
class ArrowRule:
    """One rule of the contract in Arrow: how many rows of a typed batch break it."""

    label: str  # "<column>: <check>" as pandera names the check, or a cross-field rule's name
    broken_rows: Callable[[Mapping[str, pa.Array]], int]


@dataclass(frozen=True)
class ArrowContract:
    """A use case's contract as Arrow compute, and what of it Arrow cannot prove."""

    types: Mapping[str, pa.DataType]  # every contract column -> the Arrow type of its typed values
    rules: tuple[ArrowRule, ...]
    refused: tuple[str, ...]  # "<column>: <check>: why" for every check Arrow cannot prove

    @property
    def complete(self) -> bool:
        """Whether Arrow can prove every rule: only then is a batch ever judged clean here."""
        return not self.refused


def compile_contract(schema: pandera.DataFrameSchema) -> ArrowContract:
    """Translate ``schema`` into Arrow rules, refusing (with the reason) whatever has no translation."""
    refused = [f"(schema): {option}: not supported in Arrow" for option in _schema_options_refused(schema)]
    types: dict[str, pa.DataType] = {}
    rules: list[ArrowRule] = []
    for name, column in schema.columns.items():
        arrow_type = ARROW_TYPES.get(str(column.dtype))
        if arrow_type is None or column.coerce or column.regex or getattr(column, "parsers", None):
            refused.append(f"{name}: dtype {column.dtype}: typed in Arrow only as {', '.join(ARROW_TYPES)}")
            continue
        types[name] = arrow_type
        if not column.nullable:
            rules.append(ArrowRule(f"{name}: not_nullable", lambda batch, name=name: batch[name].null_count))
        if column.unique:
            rules.append(ArrowRule(f"{name}: field_uniqueness", lambda batch, name=name: _repeats(batch[name])))
        for check in column.checks:
            rule = _column_rule(name, arrow_type, check)
            (rules if isinstance(rule, ArrowRule) else refused).append(rule)
    for check in schema.checks:
        rule = _cross_field_rule(check, types)
        (rules if isinstance(rule, ArrowRule) else refused).append(rule)
    return ArrowContract(types=types, rules=tuple(rules), refused=tuple(refused))


def _schema_options_refused(schema: pandera.DataFrameSchema) -> list[str]:
    """The schema-wide options the Arrow rules do not model (pandera alone applies them)."""
    options = {
        "coerce": schema.coerce,
        "unique": schema.unique,
        "index": schema.index is not None,
        "strict": schema.strict,
        "ordered": schema.ordered,
        "dtype": schema.dtype is not None,
        "parsers": getattr(schema, "parsers", None),
        "add_missing_columns": getattr(schema, "add_missing_columns", False),
        "drop_invalid_rows": getattr(schema, "drop_invalid_rows", False),
    }
    return [option for option, used in options.items() if used]


def _column_rule(name: str, arrow_type: pa.DataType, check: pandera.Check) -> ArrowRule | str:
    """The Arrow rule for one column check, or why there is none."""
    label = f"{name}: {check.error or check.name}"
    if check.groupby is not None or check.groups is not None or check.element_wise:
        return f"{label}: grouped or element-wise checks are not translated"
    translate = COLUMN_CHECKS.get(check.name)
    if translate is None:
        return f"{label}: no Arrow translation for check {check.name!r}"
    try:
        test = translate(dict(check.statistics or {}), arrow_type)
        test(pa.array([], arrow_type))  # a bound or value set of the wrong type fails here, not on data
    except (KeyError, TypeError, ValueError, pa.ArrowException) as error:
        return f"{label}: statistics not translatable ({error})"
    return ArrowRule(label, lambda batch: _failing(per_value(test, batch[name]), batch[name], check.ignore_na))


def _cross_field_rule(check: pandera.Check, types: Mapping[str, pa.DataType]) -> ArrowRule | str:
    """The Arrow rule for a dataframe check declared with ``core.cross_field``, or why there is none."""
    rule = (check.statistics or {}).get(CROSS_FIELD_RULE)
    if not isinstance(rule, CrossFieldRule):
        return f"{check.name}: a dataframe check not declared with core.cross_field (its function is pandera's)"
    if check.groupby is not None or check.groups is not None or check.element_wise:
        return f"{check.name}: grouped or element-wise checks are not translated"
    unknown = [column for column in rule.columns if column not in types]
    if unknown:
        return f"{check.name}: reads {', '.join(unknown)}, not a contract column typed in Arrow"
    # Null where a value is missing: counted as broken, as pandera's verdict on such a row is not proven.
    return ArrowRule(check.name, lambda batch: _failing(rule.holds_in_arrow(batch), None, ignore_na=False))


def _failing(passes: pa.Array, values: pa.Array | None, ignore_na: bool) -> int:
    """Rows that do not pass: False, or null (unknown) unless the value is null and the check ignores nulls."""
    if ignore_na and values is not None and values.null_count:
        passes = pc.or_kleene(passes, pc.is_null(values))
    return len(passes) - int(pc.sum(passes.fill_null(False)).as_py() or 0)


def _repeats(values: pa.Array) -> int:
    return len(values) - pc.count_distinct(decoded(values), mode="all").as_py()


def per_value(test: ValueTest, values: pa.Array) -> pa.Array:
    """``test`` of every value; of a dictionary array, computed once per distinct text and spread by its indices."""
    if pa.types.is_dictionary(values.type):
        return test(values.dictionary).take(values.indices)
    return test(values)


def decoded(values: pa.Array) -> pa.Array:
    """A dictionary array as the plain array of its values (anything else as it is)."""
    return values.cast(values.type.value_type) if pa.types.is_dictionary(values.type) else values


def is_text(arrow_type: pa.DataType) -> bool:
    """Text, plain or dictionary-encoded."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def broken_rules(contract: ArrowContract, typed: Mapping[str, pa.Array]) -> Iterator[tuple[str, int]]:
    """(label, rows breaking it) for every rule some row of ``typed`` breaks, computed lazily.

    ``typed``: every contract column, typed as ``contract.types`` says, missing values as nulls
    (never NaN). ``next(broken_rules(...), None) is None`` proves the batch clean, stopping at the
    first broken rule.
    """
    for rule in contract.rules:
        broken = rule.broken_rows(typed)
        if broken:
            yield rule.label, broken


def typed_columns(contract: ArrowContract, table: pa.Table | pa.RecordBatch) -> tuple[dict[str, pa.Array], list[str]]:
    """The contract columns of already typed rows (a stored accepted batch), NaN read as missing as pandas does.

    Also the columns missing or not of the contract's type (``<column>: <type> is not <type>``).
    """
    columns, wrong = {}, []
    for name, arrow_type in contract.types.items():
        if name not in table.schema.names:
            wrong.append(f"{name}: missing")
            continue
        values = _one_chunk(table.column(name))
        if pa.types.is_large_string(values.type) and arrow_type == pa.string():
            values = values.cast(pa.string())
        # a dictionary of the right type (read so by ``lake_reader``) is judged per distinct text
        plain_type = values.type.value_type if pa.types.is_dictionary(values.type) else values.type
        if plain_type != arrow_type:
            wrong.append(f"{name}: {values.type} is not {arrow_type}")
            continue
        columns[name] = nan_as_null(values)
    return columns, wrong


def typed_text_batch(contract: ArrowContract, batch: pa.RecordBatch, trimmed: list[str]) -> dict[str, pa.Array] | None:
    """Every column of a raw text batch typed as the pandas path types it, or None if that is not proven clean.

    The columns named in ``trimmed`` lose surrounding whitespace (the same trim as pandas'
    ``str.strip`` on Arrow text; a dictionary column stays one); the contract's numeric columns
    become numbers. None when a value holds a NUL byte, a numeric column holds text that is not a
    number or an integer column a fraction or a number beyond ``LARGEST_WHOLE_NUMBER``: pandera's
    path reports those.
    """
    typed = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if is_text(column.type):
            if may_hold_a_nul_byte(column.dictionary if pa.types.is_dictionary(column.type) else column):
                return None
            column = _trimmed(column) if name in trimmed else column
        if name in contract.types and contract.types[name] != pa.string():
            column = _typed_number(column, contract.types[name])
            if column is None:
                return None
        typed[name] = column
    return typed


def _trimmed(text: pa.Array) -> pa.Array:
    """Text without surrounding whitespace; a dictionary array stays one, each distinct text trimmed once."""
    if not pa.types.is_dictionary(text.type):
        return pc.utf8_trim_whitespace(text)
    return _unified(pa.DictionaryArray.from_arrays(text.indices, pc.utf8_trim_whitespace(text.dictionary)))


def _unified(text: pa.DictionaryArray) -> pa.DictionaryArray:
    """The same values with each distinct text once in the dictionary (so a repeat is a repeated index)."""
    distinct = pc.unique(text.dictionary)
    if len(distinct) == len(text.dictionary):
        return text
    return pa.DictionaryArray.from_arrays(pc.index_in(text.dictionary, distinct).take(text.indices), distinct)


def _typed_number(text: pa.Array, arrow_type: pa.DataType) -> pa.Array | None:
    """Trimmed text as numbers of ``arrow_type`` (blanks missing), or None if a value is not one.

    A dictionary's texts are parsed once each (None also when an unused one is not a number).
    """
    if pa.types.is_dictionary(text.type):
        numbers = _typed_number(text.dictionary, arrow_type)
        return None if numbers is None else numbers.take(text.indices)
    numbers, not_numbers = parse_numbers(text)
    if not_numbers:
        return None
    if arrow_type == pa.float64():
        return nan_as_null(numbers)
    whole = pc.and_(pc.is_finite(numbers), pc.equal(numbers, pc.floor(numbers)))
    small = pc.less_equal(pc.abs(numbers), LARGEST_WHOLE_NUMBER)
    if not pc.all(pc.and_(whole, small)).as_py():
        return None
    return pc.cast(numbers, arrow_type)


def parse_numbers(text: pa.Array) -> tuple[pa.Array, int]:
    """Trimmed text as float64 (blanks and non-numbers null) and how many non-blank values are not numbers."""
    looks_numeric = pc.match_substring_regex(text, NUMBER_TEXT)
    numbers = pc.cast(pc.if_else(looks_numeric, text, pa.scalar(None, text.type)), pa.float64())
    blank = pc.or_(pc.is_null(text), pc.equal(text, ""))
    not_numbers = pc.sum(pc.and_(pc.invert(blank), pc.invert(looks_numeric.fill_null(False)))).as_py() or 0
    return numbers, int(not_numbers)


def may_hold_a_nul_byte(text: pa.Array | pa.ChunkedArray) -> bool:
    """False when no byte of a text column is NUL: one scan of its data buffers (~20x faster than value by value)."""
    chunks = text.chunks if isinstance(text, pa.ChunkedArray) else [text]
    buffers = [chunk.buffers()[2] for chunk in chunks]
    return any(data is not None and not np.frombuffer(data, dtype=np.uint8).all() for data in buffers)


def nan_as_null(values: pa.Array) -> pa.Array:
    """Floats with NaN as null: pandas (and so pandera) reads NaN as a missing value."""
    if not pa.types.is_floating(values.type):
        return values
    nan = pc.is_nan(values)
    return pc.if_else(nan, pa.scalar(None, values.type), values) if pc.any(nan).as_py() else values


def _one_chunk(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
