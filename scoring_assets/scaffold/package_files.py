"""The three files of a drafted use case package, rendered from Jinja2 templates (package data).

The contract declares each drafted column with its checks and, above it, what to review; the
features take the contract's numbers and value sets; the declaration names the model files the
DVC stages write. Imports inside the package are relative, so it works in
``scoring_assets/use_cases/`` and in a folder of its own alike.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jinja2

from scoring_assets.scaffold.inference import ColumnDraft, SampleDraft

COMMENT_WIDTH = 100
TYPES = {"id": "str", "category": "str", "text": "str", "code": "pd.Int64Dtype", "integer": "pd.Int64Dtype"}


def quoted(value) -> str:
    """A Python literal for a string (double quotes, as ruff formats them) or a number."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)


def literal_list(values, indent: str = "") -> str:
    """``[a, b]`` on one line when it fits, else one item per line (as ruff would format it)."""
    items = [quoted(value) for value in values]
    one_line = f"[{', '.join(items)}]"
    if len(indent) + len(one_line) <= 90:
        return one_line
    return "[\n" + "".join(f"{indent}    {item},\n" for item in items) + f"{indent}]"


def literal_tuple(values) -> str:
    items = [quoted(value) for value in values]
    if len(items) == 1:
        return f"({items[0]},)"
    one_line = f"({', '.join(items)})"
    return one_line if len(one_line) <= 90 else "(\n" + "".join(f"    {item},\n" for item in items) + ")"


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("scoring_assets.scaffold", "templates"),
        autoescape=False,  # Python source, not HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["pyrepr"] = quoted
    return environment


def _constant(column: ColumnDraft) -> str:
    return column.attribute.upper()


def _field(column: ColumnDraft) -> dict:
    """The field's comment lines and its one declaration line."""
    arguments = []
    if column.kind == "id":
        arguments.append('unique=True, str_length={"min_value": 1}')
    elif column.kind == "category":
        arguments.append(f"isin={_constant(column)}")
    elif column.kind == "code":
        arguments.append(f"isin={literal_list(column.values)}")
    elif column.kind in ("integer", "float"):
        arguments.append(f"ge={column.bounds[0]!r}, le={column.bounds[1]!r}")
    if column.nullable:
        arguments.append("nullable=True")
    if column.attribute != column.name:
        arguments.append(f"alias={quoted(column.name)}")
    kind = TYPES.get(column.kind, "float")
    comments = textwrap.wrap(f"REVIEW: {column.review}", COMMENT_WIDTH) if column.review else []
    return {
        "comments": comments,
        "declaration": f"{column.attribute}: Series[{kind}] = pa.Field({', '.join(arguments)})",
    }


def render_package(name: str, draft: SampleDraft, sample: str, rows: int) -> dict[str, str]:
    """File name -> text of the package's ``__init__.py``, ``contract.py`` and ``features.py``."""
    environment = _environment()
    class_name = "".join(part.capitalize() for part in name.split("_")) + "Row"
    categories = [column for column in draft.columns if column.kind == "category"]
    numeric = [column for column in draft.columns if column.feature == "numeric"]
    shared = {"name": name, "class_name": class_name, "sample": sample, "rows": rows}
    row_is = "row of the extract (REVIEW: say what a row is)"
    contract = environment.get_template("contract.py.j2").render(
        **shared,
        row_is=row_is,
        label=draft.label.column,
        constants=[f"{_constant(column)} = {literal_list(column.values)}" for column in categories],
        fields=[_field(column) for column in draft.columns],
    )
    fills = {column.name: column.median for column in numeric if column.nullable}
    features = environment.get_template("features.py.j2").render(
        **shared,
        numeric=literal_tuple([column.name for column in numeric]) if numeric else "()",
        fills="{" + ", ".join(f"{quoted(key)}: {value!r}" for key, value in fills.items()) + "}" if fills else "",
        categorical=literal_tuple([column.name for column in categories]) if categories else "()",
    )
    label = draft.label
    declaration = environment.get_template("__init__.py.j2").render(
        **shared,
        title=f"{name}: {name}_score is the probability that {label.column} = {label.positive}.",
        score_column=f"{name}_score",
        id_column=draft.id_column,
        label=label,
        blank_allowed={column.name: "REVIEW: when is it blank?" for column in draft.columns if column.nullable},
    )
    return {"__init__.py": declaration, "contract.py": contract, "features.py": features}


def write_package(package: Path, files: dict[str, str]) -> list[Path]:
    """Create ``package`` (it must not exist) and write the files into it."""
    package.mkdir(parents=True)
    written = []
    for file_name, text in files.items():
        (package / file_name).write_text(text, encoding="utf-8")
        written.append(package / file_name)
    return written
