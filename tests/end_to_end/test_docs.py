"""The documentation holds: README and every docs page's code runs as written, the site builds
strictly, its generated reference covers every option, and a reader finds a page by its search.

A page's ``python`` blocks run in order in one fresh process, in an empty folder (its studies
land in that folder's ``.sweeper/``), as a reader pastes them one after the other: a later
block may use what an earlier one made, and a page shows its own setup.
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import importlib.util
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.end_to_end.test_browser import ARTIFACTS, CHROMIUM, FLAGS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = ROOT / "docs" / "pages"
CONFIG = ROOT / "docs" / "mkdocs.yml"
README_LINES = 200
"""README is for a newcomer: what it is, install, the quick start, an API example, the
commands, the tests, links into the docs. The manual is the site."""


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a Markdown text, in order (snippet includes resolved)."""
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)
    return [re.sub(r'^--8<-- "(.+)"$', lambda m: (ROOT / m.group(1)).read_text(), block,
                   flags=re.M) for block in blocks]


DOCUMENTS = [README, *sorted(PAGES.rglob("*.md"))]
RUNNABLE = [path for path in DOCUMENTS if python_blocks(path.read_text(encoding="utf-8"))]


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("document", RUNNABLE, ids=[_name(path) for path in RUNNABLE])
def test_every_code_example_runs_as_written(document, tmp_path):
    code = "\n".join(python_blocks(document.read_text(encoding="utf-8")))
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "SWEEPER_LOG_LEVEL": "warning"}
    ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env=environment, timeout=900)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "Traceback" not in ran.stderr


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, re.M | re.S)


def sweeper_commands(text: str) -> list[list[str]]:
    """Each ``sweeper ...`` command of a text's ``bash`` blocks, as its arguments (comments
    and ``&&`` chains split off)."""
    import shlex

    commands = []
    for block in _shell_blocks(text):
        for line in block.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words and Path(words[0]).name == "sweeper":  # sweeper, .venv/bin/sweeper
                    commands.append(words[1:])
    return commands


COMMANDS = [(path, command) for path in DOCUMENTS
            for command in sweeper_commands(path.read_text(encoding="utf-8"))]


@pytest.mark.parametrize(("document", "command"), COMMANDS,
                         ids=[f"{_name(path)}: {' '.join(c)[:60]}" for path, c in COMMANDS])
def test_every_command_in_the_docs_is_one_the_parser_takes(document, command):
    """The shell examples are run by hand, not here (they train, serve, start workers), but
    each is a command line the parser accepts, and the study files it names are shipped."""
    from sweeper.cli import build_parser

    arguments = build_parser().parse_args(command)
    study = getattr(arguments, "study", None)
    if isinstance(study, Path):
        assert (ROOT / study).exists(), f"{_name(document)} names {study}, not in the repository"


def test_every_study_file_example_is_a_valid_study_file():
    from sweeper.config import parse_study_file

    examples = [(path, block) for path in DOCUMENTS for block in re.findall(
        r"^```toml\n(.*?)^```", path.read_text(encoding="utf-8"), re.M | re.S)
        if not block.startswith("--8<--")]
    assert examples
    for path, block in examples:
        parse_study_file(block, ROOT / "studies" / f"{path.stem}-example.toml")


def test_readme_is_short_and_points_into_the_docs():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_LINES, f"README has {len(lines)} lines (at most {README_LINES})"
    assert "bash .ci/run" in lines  # the one test command CI runs
    assert "mkdocs serve -f docs/mkdocs.yml" in README.read_text(encoding="utf-8")


def test_readme_links_lead_somewhere():
    """README is read on a code host, outside the site: its relative links name real paths
    (the site's own links are checked by the strict build)."""
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\((?!https?://|#)([^)]+)\)", text)
    assert targets
    for target in targets:
        assert (ROOT / target.split("#")[0]).exists(), target


def _hooks():
    """The docs' generator module (``docs/hooks.py``), imported by path as MkDocs does."""
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built strictly (a warning fails the build), once for the module."""
    folder = str(tmp_path_factory.mktemp("site"))
    if importlib.util.find_spec("mkdocs") is None:
        if os.environ.get("CI"):
            pytest.fail('mkdocs is missing: .ci/run installs the "docs" extra.')
        pytest.skip('mkdocs is missing: pip install -e ".[docs]"')
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(CONFIG), "-d", folder],
        capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    assert "WARNING" not in built.stderr, built.stderr[-4000:]
    return Path(folder)


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_options_reference_lists_every_option_of_the_four_configs(site):
    import sweeper

    page = (site / "reference" / "options.html").read_text(encoding="utf-8")
    hooks = _hooks()
    markdown = hooks.options_page()
    for config in (sweeper.StudyConfig, sweeper.DataConfig, sweeper.ModelConfig,
                   sweeper.SearchConfig):
        heading = re.search(rf"<h2[^>]*>[^\n]*sweeper\.{config.__name__}</code>", page)
        assert heading, f"no section of {config.__name__}"
        section = page[heading.end():].split("<h2", 1)[0]
        options = [field for field in dataclasses.fields(config) if "constraint" in field.metadata]
        assert options
        for field in options:
            assert f"<code>{field.name}</code>" in section, (config.section, field.name)
            help_text = " ".join(field.metadata["help"].split())
            assert hooks._cell(help_text) in markdown, (config.section, field.name)


def test_the_command_line_reference_lists_every_command_and_option(site):
    from sweeper.cli import build_parser

    page = _text((site / "reference" / "cli.html").read_text(encoding="utf-8"))
    parser = build_parser()
    hooks = _hooks()
    for name, sub in hooks._commands(parser, "sweeper"):
        assert name in page
        for action in sub._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help") and action.help != "==SUPPRESS==":
                    assert flag in page, (name, flag)


def test_errors_and_schema_are_rendered_from_the_code(site):
    import json

    import sweeper.errors as errors

    page = _text((site / "reference" / "errors.html").read_text(encoding="utf-8"))
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type):  # by the name users import it as
            import sweeper

            where = "sweeper" if hasattr(sweeper, name) else "sweeper.errors"
            assert f"{where}.{name}" in page
    schema = json.loads((ROOT / "sweeper" / "export" / "schema.json").read_text())
    page = _text((site / "reference" / "export-schema.html").read_text(encoding="utf-8"))
    for field in schema["properties"]:
        assert field in page


def test_a_benchmark_json_without_its_stamp_is_refused(tmp_path):
    hooks = _hooks()
    stamped = tmp_path / "stamped.json"
    stamped.write_text('{"benchmark": "x", "commit": "abc1234", "date": "2026-12-07", '
                       '"machine": "x86_64, 2 cores", '
                       '"cells": [{"rows": 10, "peak": {"mb": 1.5}}]}')
    page = hooks.benchmark_page(stamped)
    assert "abc1234" in page and "2026-12-07" in page and "peak.mb" in page
    unstamped = tmp_path / "unstamped.json"
    unstamped.write_text('{"benchmark": "x", "cells": []}')
    with pytest.raises(ValueError, match="commit, date, machine"):
        hooks.benchmark_page(unstamped)


def test_every_benchmark_json_has_a_stamped_page(site):
    for path in sorted((ROOT / "docs" / "benchmarks").glob("*.json")):
        page = site / "benchmarks" / "results" / f"{path.stem}.html"
        assert page.exists(), path.name
        assert "Measured at commit" in page.read_text(encoding="utf-8")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test's output is not a server log
        pass


def test_a_reader_finds_a_page_by_the_sites_search(site):
    """Material's search runs in the browser (a web worker over the built index), so the site
    is served over HTTP, as `mkdocs serve` or any static host serves it."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    playwright = pytest.importorskip("playwright.sync_api")
    handler = functools.partial(_Quiet, directory=str(site))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(300_000)  # waits turn a hang into a failure, not a race
            page.goto(f"http://127.0.0.1:{port}/index.html")
            page.get_by_label("Search").first.click()
            page.keyboard.type("heartbeat_interval")
            page.locator(".md-search-result__link").first.wait_for()
            # The options reference is among the hits (the guides that mention it are too).
            hit = page.locator('.md-search-result__link[href*="reference/options.html"]').first
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "docs-search.png"))
            hit.click()
            page.wait_for_url(re.compile(r"reference/options\.html"))
            assert "heartbeat_interval" in page.locator("article").inner_text()
            browser.close()
        server.shutdown()
