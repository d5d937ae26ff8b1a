"""The docs site's generated pages: written at build time from the code, never copied by hand.

MkDocs runs this module as a hook (``hooks:`` in ``mkdocs.yml``). Its ``on_files`` adds pages
that are rendered from the declarations they document, so a page cannot drift from the code:

- ``reference/options.md``: every option of the four config objects (``[study]``, ``[data]``,
  ``[model]``, ``[search]``) from its :func:`sweeper.config._options.option` declaration;
- ``reference/cli.md``: every command and argument from :func:`sweeper.cli.build_parser`;
- ``reference/export-schema.md``: the export's JSON schema (``sweeper/export/schema.json``);
- ``reference/errors.md``: the error classes and exit codes (:mod:`sweeper.errors`);
- ``benchmarks/results/NAME.md``: one page per benchmark JSON in ``docs/benchmarks/``, stamped
  with the commit, date and machine it was measured on.

The renderers are plain functions of the code's objects, so the tests call them too.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
RESULTS = DOCS / "benchmarks"
"""Benchmark JSON (and a plot of the same stem, if any) as the benchmarks wrote them."""
STAMP = ("commit", "date", "machine")
"""What a benchmark's JSON must say about where it was measured."""


def _cell(text: Any) -> str:
    """A Markdown table cell: one line; outside code spans, pipes and brackets escaped
    (``w[k]`` is text, not a cross-reference); code spans are left as they are."""
    parts = " ".join(str(text).split()).split("`")
    if len(parts) % 2 == 0:  # an unpaired backquote: no code spans to keep
        parts = ["\\`".join(parts)]
    for index in range(0, len(parts), 2):
        parts[index] = (parts[index].replace("|", "\\|").replace("[", "\\[")
                        .replace("]", "\\]"))
    return "`".join(parts)


def _code(value: Any) -> str:
    return f"`{' '.join(str(value).split())}`" if value not in (None, "") else ""


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _default(field: dataclasses.Field) -> str:
    from sweeper.config._options import AutoCount, Named

    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return "required"
    if value is None:
        # A count left to the sweeper is stored as None and written "auto".
        return '`"auto"`' if isinstance(field.metadata["constraint"], AutoCount) else "not set"
    if isinstance(value, Named):
        return _code(json.dumps(value.name if not value.arguments else value.to_json()))
    if isinstance(value, tuple):
        value = list(value)
    return _code(json.dumps(value) if isinstance(value, (list, str, bool, int, float))
                 else repr(value))


def option_rows(config: type) -> list[tuple[str, str, str]]:
    """One row per option of a config class: its key, its default, and a description made of
    its help, what it accepts, its type and whether it pins the study (three columns, so the
    table fits the page). Fields without a constraint (bookkeeping) are not options."""
    rows = []
    for field in dataclasses.fields(config):
        constraint = field.metadata.get("constraint")
        if constraint is None:
            continue
        pins = "pins the study" if field.metadata.get("pins") else "does not pin the study"
        description = (f"{field.metadata.get('help', '')} <br>*Accepts* {constraint.expected}; "
                       f"type `{' '.join(str(field.type).split())}`; {pins}.")
        rows.append((f"`{field.name}`", _default(field), description))
    return rows


def options_page() -> str:
    """Every option of ``[study]``, ``[data]``, ``[model]`` and ``[search]``."""
    import sweeper

    parts = [
        "# Study-file and API options\n",
        "Generated from the declarations in `sweeper/config/_configs.py` (each option's "
        "constraint, default and help are declared once and shared by the study file, the "
        "Python API and the command line). A study file's table `[model]` holds the keys of "
        "`sweeper.ModelConfig`, and so on; `sweep(..., model={...})` takes the same keys. "
        "A setting that *pins the study* makes another study with another value (the data, "
        "the model and the search space pin it; where and how it runs does not).\n",
    ]
    for config in (sweeper.StudyConfig, sweeper.DataConfig, sweeper.ModelConfig,
                   sweeper.SearchConfig):
        doc = inspect.getdoc(config) or ""
        parts.append(f"## `[{config.section}]`: `sweeper.{config.__name__}`\n")
        parts.append(doc.split("\n\n")[0] + "\n")
        parts.append(_table(("key", "default", "description"), option_rows(config)))
    return "\n".join(parts)


def _arguments(parser: argparse.ArgumentParser) -> list[tuple[str, str, str]]:
    rows = []
    for action in parser._actions:  # argparse has no public list of a parser's arguments
        if action.help == argparse.SUPPRESS or isinstance(
            action, (argparse._HelpAction, argparse._SubParsersAction)
        ):
            continue
        name = ", ".join(action.option_strings) or (action.metavar or action.dest)
        if action.option_strings and action.nargs != 0:
            name += f" {action.metavar or action.dest.upper()}"
        default = action.default
        shown = "" if default in (None, False, argparse.SUPPRESS) else _code(default)
        required = "yes" if action.required or not action.option_strings else ""
        rows.append((f"`{name}`", required, (action.help or "") + (
            f" (default {shown})" if shown and "default" not in (action.help or "") else "")))
    return rows


def _commands(parser: argparse.ArgumentParser, prefix: str) -> Iterable[tuple[str, Any]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, f"{prefix} {name}")
            return
    yield prefix, parser


def cli_page() -> str:
    """Every command of ``sweeper`` and its arguments, from the parser itself."""
    from sweeper.cli import EPILOG, build_parser

    parser = build_parser()
    parts = ["# Command line\n",
             "Generated from `sweeper.cli.build_parser()`: what `sweeper COMMAND --help` "
             "prints, as tables.\n",
             "```text\n" + parser.format_usage().strip() + "\n```\n",
             "```text\n" + EPILOG.rstrip() + "\n```\n"]
    for name, sub in _commands(parser, "sweeper"):
        if name == "sweeper":
            continue
        parts.append(f"## `{name}`\n")
        parts.append((sub.description or "").strip() + "\n")
        usage = sub.format_usage().removeprefix("usage: ").strip()
        parts.append("```text\n" + usage + "\n```\n")
        parts.append(_table(("argument", "required", "help"), _arguments(sub)))
    return "\n".join(parts)


def _schema_type(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1]
    if "const" in spec:
        return json.dumps(spec["const"])
    if "enum" in spec:
        return " or ".join(json.dumps(value) for value in spec["enum"])
    for key in ("oneOf", "anyOf"):
        if key in spec:
            return " or ".join(_schema_type(option) for option in spec[key])
    kind = spec.get("type", "any")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    if kind == "array" and "items" in spec:
        return f"array of {_schema_type(spec['items'])}"
    return kind


def _schema_table(spec: dict[str, Any]) -> str:
    required = set(spec.get("required", ()))
    return _table(("field", "type", "required", "description"), (
        (f"`{name}`", _schema_type(field), "yes" if name in required else "",
         field.get("description", ""))
        for name, field in spec.get("properties", {}).items()
    ))


def export_schema_page() -> str:
    """The export's JSON schema: each field, each definition, then the schema itself."""
    import sweeper.export

    path = Path(sweeper.export.__file__).parent / "schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    parts = ["# Export schema\n",
             f"Rendered from `sweeper/export/schema.json` (`$id` `{schema.get('$id', '')}`), "
             "which `sweeper export` and `SweepResult.export()` check every document against "
             "on write, and `sweeper.load_export()` on read.\n",
             (schema.get("description") or "") + "\n",
             "## Fields\n", _schema_table(schema)]
    for name, definition in schema.get("$defs", {}).items():
        parts.append(f"## `{name}`\n")
        parts.append((definition.get("description") or "") + "\n")
        if "properties" in definition:
            parts.append(_schema_table(definition))
        else:
            parts.append(f"Type: {_schema_type(definition)}.\n")
    parts.append("## The schema\n")
    parts.append("```json\n" + json.dumps(schema, indent=2) + "\n```\n")
    return "\n".join(parts)


def errors_page() -> str:
    """The error classes users catch, what each means, and the exit code it gives."""
    import sweeper.errors as errors

    classes = [getattr(errors, name) for name in errors.__all__
               if inspect.isclass(getattr(errors, name))]
    classes.sort(key=lambda cls: (len(cls.__mro__), cls.__name__))
    rows = []
    import sweeper

    for cls in classes:
        base = cls.__mro__[1].__name__
        summary = (inspect.getdoc(cls) or "").split("\n\n")[0]
        where = "sweeper" if hasattr(sweeper, cls.__name__) else "sweeper.errors"
        rows.append((f"`{where}.{cls.__name__}`", f"`{base}`", cls.exit_code, summary))
    codes = [(f"`{name}`", getattr(errors, name),
              _doc_of_constant(inspect.getsource(errors), name))
             for name in ("EXIT_USAGE", "EXIT_FAILED", "EXIT_INTERRUPTED")]
    return "\n".join([
        "# Errors and exit codes\n",
        "Generated from `sweeper/errors.py`.\n",
        (inspect.getdoc(errors) or "") + "\n",
        "## Exit codes\n",
        _table(("constant", "code", "meaning"), [("", 0, "done"), *codes]),
        "## Errors\n",
        _table(("error", "base", "exit code", "meaning"), rows),
    ])


def _doc_of_constant(source: str, name: str) -> str:
    """The docstring written under a module constant (the attribute docstring convention)."""
    match = re.search(rf'^{name} = [^\n]*\n"""(.*?)"""', source, re.M | re.S)
    return " ".join(match.group(1).split()) if match else ""


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif not isinstance(value, list):
            flat[f"{prefix}{key}"] = value
    return flat


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _is_keyed(value: Any) -> bool:
    """A table keyed by name (``{"window 100": {...figures}, ...}``): one row per key."""
    return (isinstance(value, dict) and len(value) > 1
            and all(isinstance(inner, dict) for inner in value.values()))


def _records(document: dict[str, Any]) -> Iterable[tuple[str, list[dict[str, Any]]]]:
    """Each list of records (dicts) in a benchmark's JSON, by its key."""
    for key, value in document.items():
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            yield key, value
        elif isinstance(value, dict):
            for inner, records in _records(value):
                yield f"{key}.{inner}", records


def benchmark_page(path: Path) -> str:
    """A benchmark's results page: its stamp, the command, and each list of records as a table
    (nested figures flattened to dotted columns), with the plot of the same name if there is
    one. Raises ``ValueError`` for a JSON without its stamp: an unstamped figure is no figure."""
    document = json.loads(path.read_text(encoding="utf-8"))
    missing = [key for key in STAMP if not document.get(key)]
    if missing:
        raise ValueError(f"{path.name}: no {', '.join(missing)} (each benchmark JSON says "
                         "where it was measured)")
    name = document.get("benchmark", path.stem)
    parts = [f"# Results: {name}\n",
             f"Measured at commit `{document['commit']}` on {document['date']}, on "
             f"{document['machine']}. Generated from `docs/benchmarks/{path.name}`.\n"]
    if document.get("command"):
        parts.append(f"```bash\n{document['command']}\n```\n")
    keyed = {key: value for key, value in document.items() if _is_keyed(value)}
    scalars = {key: value for key, value in _flatten(
                   {k: v for k, v in document.items() if k not in keyed}).items()
               if key not in (*STAMP, "benchmark", "command")}
    if scalars:
        parts.append(_table(("setting", "value"),
                            ((f"`{key}`", _shown(value)) for key, value in scalars.items())))
    plot = path.with_suffix(".png")
    if plot.exists():
        parts.append(f"![{name}]({plot.name})\n")
    for key, table in keyed.items():
        flat = {row: _flatten(record) for row, record in table.items()}
        columns = list(dict.fromkeys(column for record in flat.values() for column in record))
        parts.append(f"## `{key}`\n")
        parts.append(_table((key, *columns), ([row, *(_shown(record.get(column, ""))
                                                      for column in columns)]
                                              for row, record in flat.items())))
    for key, records in _records(document):
        flat = [_flatten(record) for record in records]
        columns = list(dict.fromkeys(column for record in flat for column in record))
        parts.append(f"## `{key}`\n")
        parts.append(_table(columns, ([_shown(record.get(column, "")) for column in columns]
                                      for record in flat)))
    return "\n".join(parts)


def generated_pages() -> dict[str, str]:
    """Every generated page by its path in the site."""
    pages = {
        "reference/options.md": options_page(),
        "reference/cli.md": cli_page(),
        "reference/export-schema.md": export_schema_page(),
        "reference/errors.md": errors_page(),
    }
    for path in sorted(RESULTS.glob("*.json")):
        pages[f"benchmarks/results/{path.stem}.md"] = benchmark_page(path)
    return pages


def without_roles(html: str) -> str:
    """The page with its docstrings' Sphinx roles shown as plain code, as Sphinx shows them
    (the docstrings are also read by Python's help() and IDEs, which show them as written)."""
    return re.sub(r":(?:func|class|meth|attr|mod|data|exc|obj):<code>(~?)([^<]*)</code>",
                  lambda match: "<code>" + (match.group(2).rsplit(".", 1)[-1]
                                            if match.group(1) else match.group(2)) + "</code>",
                  html)


def on_page_content(html, page, config, files):
    """MkDocs hook: Sphinx roles of the docstrings as plain code."""
    return without_roles(html)


def on_config(config):
    """MkDocs hook: pages include the repository's files (``--8<-- "studies/quickstart.toml"``)
    by their path from its root, wherever ``mkdocs`` was started."""
    config["mdx_configs"].setdefault("pymdownx.snippets", {})["base_path"] = [str(DOCS.parent)]
    return config


def on_files(files, config):
    """MkDocs hook: add the generated pages, and each benchmark's plot beside its page."""
    from mkdocs.structure.files import File

    for uri, content in generated_pages().items():
        files.append(File.generated(config, uri, content=content))
    for plot in sorted(RESULTS.glob("*.png")):
        files.append(File.generated(config, f"benchmarks/results/{plot.name}",
                                    abs_src_path=str(plot)))
    return files
