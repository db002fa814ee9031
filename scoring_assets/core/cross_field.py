"""Cross-field rules declared as data: one declaration gives pandera its check and Arrow its proof.

A contract's hand-written ``@dataframe_check`` is a function only pandera can run: what it tests
cannot be read back without pandera's private attributes, so a batch of a contract with one always
goes to pandera. A rule declared here instead becomes the contract's dataframe check through
``dataframe_check``: pandera runs the rule's pandas reading (``holds``), and the check's public
``statistics`` carry the rule itself, where the Arrow clean path (``core.arrow_contract``) finds
its Arrow reading (``holds_in_arrow``). Both readings live side by side in one small class, and
the property tests prove them equivalent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

CROSS_FIELD_RULE = "cross_field_rule"  # the statistic of a dataframe check that holds its declared rule


@runtime_checkable
class CrossFieldRule(Protocol):
    """A rule over several columns of a row, readable as pandas (for pandera) and as Arrow."""

    name: str  # the dataframe check's name: what the reject report calls a row breaking it

    @property
    def columns(self) -> tuple[str, ...]: ...

    def describe(self) -> str: ...

    def holds(self, batch: pd.DataFrame) -> pd.Series: ...

    def holds_in_arrow(self, batch: Mapping[str, pyarrow.Array]) -> pyarrow.Array: ...


@dataclass(frozen=True)
class CodesAgree:
    """``column`` holds ``value`` exactly when every column of ``others`` holds its own code.

    E.g. PhoneService is ``No`` exactly when MultipleLines says ``No phone service``: two codes of
    one row that must tell the same story.
    """

    name: str
    column: str
    value: Any
    others: Mapping[str, Any]

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column, *self.others)

    def describe(self) -> str:
        others = " and ".join(f"{name} is {code!r}" for name, code in self.others.items())
        return f"{self.column} is {self.value!r} exactly when {others}."

    def holds(self, batch: pd.DataFrame) -> pd.Series:
        key = batch[self.column] == self.value
        agree = pd.Series(True, index=batch.index)
        for name, code in self.others.items():
            agree &= key == (batch[name] == code)
        return agree

    def holds_in_arrow(self, batch: Mapping[str, pyarrow.Array]) -> pyarrow.Array:
        key = _equal(batch[self.column], self.value)
        agree = [pc.equal(key, _equal(batch[name], code)) for name, code in self.others.items()]
        return _all_of(agree)


@dataclass(frozen=True)
class BlankOnlyWhen:
    """``column`` may be blank (missing) only in a row where ``other`` equals ``value``.

    E.g. a blank TotalCharges is only believable for a customer in their first month (tenure 0).
    """

    name: str
    column: str
    other: str
    value: Any

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column, self.other)

    def describe(self) -> str:
        return f"{self.column} may be blank only when {self.other} is {self.value!r}."

    def holds(self, batch: pd.DataFrame) -> pd.Series:
        return (batch[self.column].notna() | (batch[self.other] == self.value)).fillna(False)

    def holds_in_arrow(self, batch: Mapping[str, pyarrow.Array]) -> pyarrow.Array:
        present = pc.is_valid(batch[self.column])
        return pc.or_kleene(present, _equal(batch[self.other], self.value))


def _equal(values: pyarrow.Array, value: Any) -> pyarrow.Array:
    """``values == value`` per row; for a dictionary array, compared once per distinct value."""
    if pyarrow.types.is_dictionary(values.type):
        return pc.equal(values.dictionary, value).take(values.indices)
    return pc.equal(values, value)


def _all_of(conditions: list[pyarrow.Array]) -> pyarrow.Array:
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = pc.and_kleene(combined, condition)
    return combined


def dataframe_check(rule: CrossFieldRule) -> classmethod:
    """The contract's pandera dataframe check for ``rule``, to assign in a ``DataFrameModel``'s body.

    Named after the rule and described by it; its ``statistics`` hold the rule under
    ``CROSS_FIELD_RULE``, pandera's public way of saying what a check tests.
    """

    def check(cls, batch: pd.DataFrame) -> pd.Series:
        return rule.holds(batch)

    check.__doc__ = rule.describe()
    return pa.dataframe_check(name=rule.name, statistics={CROSS_FIELD_RULE: rule})(check)


def rule_columns(rules: list[CrossFieldRule]) -> dict[str, tuple[str, ...]]:
    """Rule name -> the columns it reads: a use case's ``cross_field_rules``."""
    return {rule.name: rule.columns for rule in rules}
