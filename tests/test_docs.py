"""The README and the docs pages it links keep their promises: every link lands, every command runs.

A reader follows a link or pastes a command; either must work as the page says. So:

- every Markdown link to a local file resolves, and an ``#anchor`` on a Markdown page is one of its
  headings (GitHub's slugs);
- every command that runs this project, shown in a code block, an indented block or an inline code
  span, is checked against what it runs: in code blocks, ``scoring-assets`` lines are parsed by the
  CLI's own parser (``[...]`` optional parts taken, placeholders such as NAME or KEY parsed as the
  strings they are, T/F/N as numbers); an inline ``scoring-assets`` span must name a subcommand and
  options of it; ``python3 dev.py X`` must be one of dev.py's commands with options that command
  takes; ``bench/`` and ``scripts/`` lines name a script that exists and options its parser
  declares; ``dg`` lines parse with dg's own commands; pytest lines name test files that exist;
- the ``SCORING_*`` variables the docs name are the ones the code reads, and the other way round.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import re
import shlex
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import click
import pytest
from dagster_dg_cli.cli import cli as dg_cli

from scoring_assets.cli import build_parser
from scoring_assets.core.paths import REPO_ROOT

README = REPO_ROOT / "README.md"
DOCS = (README, *sorted((REPO_ROOT / "docs").glob("*.md")))
FENCE = re.compile(r"^\s*```(\S*)")
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console"}  # unlabelled blocks hold synopses (and output)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`([^`]+)`")
ENVIRONMENT_PREFIX = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=(?:\$\([^)]*\)|\S+)\s+)+")
PROJECT_COMMAND = re.compile(
    r"^(?:(?:\.venv/bin/)?scoring-assets\s|python3 dev\.py\b|(?:\.venv/bin/)?python3? (?:bench|scripts)/"
    r"|\.venv/bin/python -m pytest\b|dg\s)"
)
NUMERIC_PLACEHOLDERS = {"T": "0.5", "F": "0.05", "N": "3000", "DAYS": "30"}
VARIABLE = re.compile(r"\bSCORING_[A-Z0-9_]*[A-Z0-9]\b")
SETTINGS = REPO_ROOT / "scoring_assets" / "settings.py"


@dataclass(frozen=True)
class ShownCommand:
    """A command as a page shows it: where, its text, and whether it stands in a code block."""

    page: Path
    line: int
    text: str
    in_block: bool

    def problem(self, what: str) -> str:
        return f"{self.page.relative_to(REPO_ROOT)}:{self.line}: `{self.text}`: {what}"


def prose_of(text: str) -> str:
    """The page with its fenced blocks blanked (line numbers kept): links and spans in code are not links."""
    lines, fenced = text.split("\n"), False
    for number, line in enumerate(lines):
        is_fence = bool(FENCE.match(line))
        if fenced or is_fence:
            lines[number] = ""
        fenced = fenced != is_fence
    return "\n".join(lines)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation but hyphens and underscores dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    """Every heading's anchor on ``page``; a repeated heading gets -1, -2, ... as on GitHub."""
    found, seen = set(), {}
    for line in prose_of(page.read_text(encoding="utf-8")).split("\n"):
        if re.match(r"#{1,6} ", line):
            base = slug(line.lstrip("#"))
            found.add(f"{base}-{seen[base]}" if base in seen else base)
            seen[base] = seen.get(base, 0) + 1
    return frozenset(found)


def link_problems(page: Path) -> list[str]:
    """Each local link on ``page`` that leads nowhere: a missing file, or an anchor its page lacks."""
    text, problems = prose_of(page.read_text(encoding="utf-8")), []
    for match in LINK.finditer(text):
        target = match.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # http(s), mailto: not this test's business
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        where = f"{page.relative_to(REPO_ROOT)}:{text.count(chr(10), 0, match.start()) + 1}: ({target})"
        if not resolved.exists():
            problems.append(f"{where}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{where}: {resolved.name} has no heading with that anchor")
    return problems


def project_command(text: str) -> str | None:
    """``text`` without its prompt and environment assignments, when it runs this project; else None."""
    text = ENVIRONMENT_PREFIX.sub("", text.strip().removeprefix("$ "))
    return text if PROJECT_COMMAND.match(text) else None


def block_commands(page: Path) -> list[ShownCommand]:
    """The project's commands in the page's shell code blocks and indented blocks (continuations joined)."""
    commands, block, pending, start = [], None, "", 0
    for number, line in enumerate(page.read_text(encoding="utf-8").split("\n"), start=1):
        if fence := FENCE.match(line):
            block = fence.group(1) if block is None else None
            continue
        in_shell_block = block in SHELL_BLOCKS and (block != "console" or line.lstrip().startswith("$ "))
        if not (in_shell_block or (block is None and line.startswith("    "))) and not pending:
            continue
        start, pending = start if pending else number, pending + line.rstrip().removesuffix("\\")
        if line.rstrip().endswith("\\"):
            continue
        if command := project_command(pending):
            commands.append(ShownCommand(page, start, command, in_block=True))
        pending = ""
    return commands


def inline_commands(page: Path) -> list[ShownCommand]:
    """The project's commands the page names in inline code spans (a span may wrap over lines)."""
    text = prose_of(page.read_text(encoding="utf-8"))
    return [
        ShownCommand(page, text.count("\n", 0, match.start()) + 1, command, in_block=False)
        for match in INLINE_CODE.finditer(text)
        if (command := project_command(" ".join(match.group(1).split())))
    ]


def arguments_of(command: ShownCommand) -> list[str]:
    """The command's words, optional ``[...]`` parts taken, comments dropped, numeric placeholders filled."""
    text = re.sub(r"\[|\]|\.\.\.", " ", command.text)
    return [NUMERIC_PLACEHOLDERS.get(word, word) for word in shlex.split(text, comments=True)]


def parse_problem(arguments: list[str]) -> str | None:
    """What the CLI's parser says of ``arguments`` (its usage error), or None when it accepts them."""
    errors = io.StringIO()
    try:
        with redirect_stderr(errors), redirect_stdout(io.StringIO()):
            build_parser().parse_args(arguments)
    except SystemExit as exit_:
        if exit_.code:
            return errors.getvalue().strip().splitlines()[-1]
    return None


@cache
def subcommand_help(name: str) -> str | None:
    """``scoring-assets NAME --help``, or None when there is no such subcommand."""
    out = io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(io.StringIO()):
            build_parser().parse_args([name, "--help"])
    except SystemExit as exit_:
        return out.getvalue() if exit_.code == 0 else None
    return None


def flags_problem(arguments: list[str], declared: str, what: str) -> str | None:
    """The first ``--option`` in ``arguments`` that ``declared`` (a help text or a source) does not name."""
    for word in arguments:
        flag = word.split("=")[0]
        if flag.startswith("--") and not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", declared):
            return f"{what} has no option {flag}"
    return None


def scoring_assets_problem(arguments: list[str], in_block: bool) -> str | None:
    """A mentioned command must name a subcommand and options it has (in full: argparse would take
    ``--use`` for ``--use-case``); a shown one must parse as well."""
    if in_block and (problem := parse_problem(arguments)):
        return problem
    if not arguments:
        return None
    declared = subcommand_help(arguments[0])
    if declared is None:
        return f"scoring-assets has no subcommand {arguments[0]}"
    return flags_problem(arguments[1:], declared, f"scoring-assets {arguments[0]}")


def dg_problem(arguments: list[str]) -> str | None:
    """What dg's own click commands say of ``dg ARGUMENTS`` (parsed, never run), or None."""
    command, path = dg_cli, ["dg"]
    while isinstance(command, click.Group) and arguments and not arguments[0].startswith("-"):
        command = command.get_command(click.Context(dg_cli), arguments[0])
        path, arguments = [*path, arguments[0]], arguments[1:]
        if command is None:
            return f"{' '.join(path)} is no dg command"
    try:
        command.make_context(" ".join(path), list(arguments))
    except click.ClickException as error:
        return error.format_message()
    return None


def pytest_problem(arguments: list[str]) -> str | None:
    """Test files named must exist (``path::test`` included)."""
    for word in arguments:
        path = word.split("::")[0]
        if path.endswith(".py") and not (REPO_ROOT / path).exists():
            return f"no test file {path}"
    return None


def script_problem(script: str, arguments: list[str]) -> str | None:
    """A ``bench/`` or ``scripts/`` script must exist and declare every option passed to it."""
    path = REPO_ROOT / script
    if not path.is_file():
        return f"no script {script}"
    return flags_problem(arguments, path.read_text(encoding="utf-8"), script)


def load_dev_py():
    spec = importlib.util.spec_from_file_location("dev", REPO_ROOT / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEV_PY = load_dev_py()
# What each dev.py command does with the words after it (dev.py passes them on, see its COMMANDS).
DEV_ARGUMENTS = {
    "setup": lambda rest: f"setup takes no arguments, got {rest}" if rest else None,
    "demo": lambda rest: f"demo takes no arguments, got {rest}" if rest else None,
    "test": pytest_problem,
    "ui": lambda rest: dg_problem(["dev", *rest]),
    "serve": lambda rest: script_problem("scoring_assets/service.py", rest),
    "bench": lambda rest: script_problem("bench/run.py", rest),
}


def dev_py_problem(arguments: list[str]) -> str | None:
    if not arguments or arguments[0] not in DEV_PY.COMMANDS:
        return f"dev.py's commands are {', '.join(DEV_PY.COMMANDS)}"
    return DEV_ARGUMENTS[arguments[0]](arguments[1:])


def command_problem(command: ShownCommand) -> str | None:
    """What is wrong with a shown command, by what it runs; None when it would run as the page says."""
    words = arguments_of(command)
    if words[0].endswith("scoring-assets"):
        return scoring_assets_problem(words[1:], command.in_block)
    if words[:2] == ["python3", "dev.py"]:
        return dev_py_problem(words[2:])
    if words[0] == "dg":
        return dg_problem(words[1:])
    if words[1:3] == ["-m", "pytest"]:
        return pytest_problem(words[3:])
    return script_problem(words[1], words[2:])


def all_commands() -> list[ShownCommand]:
    return [command for page in DOCS for command in (*block_commands(page), *inline_commands(page))]


def test_every_local_link_lands_on_a_file_and_a_heading():
    problems = [problem for page in DOCS for problem in link_problems(page)]
    assert not problems, "\n".join(problems)


def test_every_shown_command_runs_as_the_page_says():
    commands = all_commands()
    problems = [command.problem(problem) for command in commands if (problem := command_problem(command))]
    assert not problems, "\n".join(problems)
    shown = {arguments_of(command)[0].removeprefix(".venv/bin/") for command in commands if command.in_block}
    assert {"scoring-assets", "python3", "dg"} <= shown, "the commands are no longer found: fix this test"


def test_every_dev_py_command_is_known_to_this_test():
    assert set(DEV_ARGUMENTS) == set(DEV_PY.COMMANDS)


def scoring_variables_in_docs() -> set[str]:
    return {name for page in DOCS for name in VARIABLE.findall(page.read_text(encoding="utf-8"))}


def test_every_scoring_variable_the_docs_name_is_read_by_the_code():
    """The settings' one home names each (or, for a run pod's image, the deploy config reads it)."""
    known = SETTINGS.read_text(encoding="utf-8") + "".join(
        path.read_text(encoding="utf-8") for path in sorted((REPO_ROOT / "deploy").glob("*.yaml"))
    )
    unknown = sorted(name for name in scoring_variables_in_docs() if not re.search(rf"\b{name}\b", known))
    assert not unknown, f"the docs name variables nothing reads: {unknown}"


def test_every_setting_the_code_reads_is_documented():
    tree = ast.parse(SETTINGS.read_text(encoding="utf-8"))
    read = {
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and str(node.value.value).startswith("SCORING_")
    }
    assert read, "no SCORING_ variable found in settings.py: fix this test"
    undocumented = sorted(read - scoring_variables_in_docs())
    assert not undocumented, f"settings no docs page names: {undocumented}"


@pytest.mark.parametrize(
    "broken",
    ["scoring-assets score FILE --no-such-option", "scoring-assets promote", "scoring-assets score FILE --use"],
)
def test_a_broken_command_is_caught(broken):
    command = ShownCommand(README, 1, broken, in_block=True)
    assert command_problem(command)
