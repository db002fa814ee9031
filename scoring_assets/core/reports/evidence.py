"""The evidence bundle's index page (``templates/evidence_bundle.html.j2``): what ``evidence.json`` says, for people.

One offline page in the bundle's folder: the verdict, the facts (file, input, model, contract,
code, environment, run), every item with its hash check and a relative link to its copy, every
check result with its meaning, and the installed packages. Built from the ``evidence.json``
record only (``core.evidence``), so the page never says more or less than the record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import Markup

from scoring_assets.core.reports.pages import Badge, Table, write_page

TEMPLATE = "evidence_bundle.html.j2"
VERDICTS = {True: Badge("ok", "verified"), False: Badge("alert", "MODIFIED"), None: None}


def write_evidence_page(path: Path, record: dict[str, Any]) -> Path:
    """Write the index page of the bundle whose ``evidence.json`` is ``record`` to ``path`` (in the bundle)."""
    packages = Path(path).with_name("packages.txt")
    return write_page(
        path,
        TEMPLATE,
        record=record,
        verdict=Badge("ok", "nothing modified") if record["verified"] else Badge("alert", "modified items"),
        facts=facts_table(record),
        items=items_table(record["items"]),
        checks=checks_table(record["checks"]),
        tags=Table(["tag", "value"], sorted((record["run"]["tags"] or {}).items())),
        packages=packages.read_text(encoding="utf-8").splitlines() if packages.is_file() else [],
    )


def _code(text: Any) -> Markup | None:
    return None if text is None else Markup("<code>{}</code>").format(text)


def facts_table(record: dict[str, Any]) -> Table:
    """What decided the scores, one fact a row."""
    model, checkout, environment = record["model"], record["code_checkout"], record["environment"]
    champion = {True: "yes", False: "no: another model is served now", None: "cannot be told"}
    reasons = record["reasons"]
    rows = [
        ("scored file", record["scored_file"]["path"]),
        ("scored file sha256", _code(record["scored_file"]["sha256"])),
        ("rows scored", f"{record['scored_file']['rows']:,}"),
        ("input file", f"{record['input']['path']} ({record['input']['bytes']:,} bytes)"),
        ("input sha256", _code(record["input"]["sha256"])),
        ("model", f"{model['version']} ({(model.get('serving') or {}).get('kind', 'pipeline')})"),
        ("model md5", _code(model["md5"])),
        ("still the champion", champion[model["still_the_champion"]]),
        ("reference profile md5", _code(record["reference_md5"])),
        ("contract version", _code(record["contract_version"])),
        ("reason dictionary version", _code(reasons.get("version")) if reasons else "no reason codes"),
        ("code version", record["code_version"]),
        ("git commit", _code(checkout["git_commit"]) if checkout else "not run from a git checkout"),
        ("uncommitted changes", ("yes" if checkout["dirty"] else "no") if checkout else None),
        ("environment sha256", _code(environment["sha256"]) if environment else None),
        ("run", _code(record["run"]["run_id"])),
    ]
    return Table(["", ""], rows)


def items_table(items: list[dict[str, Any]]) -> Table:
    """Each item: its hash check, its copy here (a relative link), the hash, where it was found and why."""
    rows = [
        (
            item["name"],
            VERDICTS[item["verified"]],
            Markup('<a href="{0}">{0}</a>').format(item["copy"]) if item["copy"] else None,
            _code(f"{item['algorithm']} {item['actual'] or item['recorded']}")
            if item["actual"] or item["recorded"]
            else None,
            item["note"],
        )
        for item in items
    ]
    return Table(["item", "hash check", "in this folder", "hash", "note"], rows)


def checks_table(checks: list[dict[str, Any]]) -> Table:
    """Every check result behind the file, step by step: verdict, meaning and what it found."""
    rows = [
        (
            record["asset"],
            check["name"],
            Badge("ok", "passed") if check["passed"] else Badge("alert" if check["severity"] == "ERROR" else "warn"),
            check["meaning"],
            check["description"],
        )
        for record in checks
        for check in record["checks"]
    ]
    return Table(["step", "check", "result", "what it checks", "what it found"], rows)
