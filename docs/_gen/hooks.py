"""mkdocs hooks (mkdocs.yml ``hooks:``): the cause pages join the nav in the registry's order,
and the command-line page is generated at build time from the argparse parser, so it follows
``rstlab/cli.py`` with nothing to regenerate."""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from mkdocs.structure.files import File, Files

CLI_PAGE = "cli.md"
# rstlab's docstrings use Sphinx roles (``:class:`Trace```, ``:func:`~rstlab.errors.X```), which
# Markdown renders as the role's name then code: keep the code, drop the role (and ``~``'s path).
_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|exc|mod|data|obj):<code>(~?)([^<]+)</code>")
HELP_WIDTH = "100"


def on_config(config: Any) -> Any:
    from rstlab.causes import registry

    pages = [f"causes/{c.id}.md" for c in registry()]
    for entry in config["nav"]:
        if isinstance(entry, dict) and "Causes" in entry:
            entry["Causes"] = [p for p in entry["Causes"] if p not in pages] + pages
    return config


def _subparsers(p: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            return list(a.choices.items())
    return []


def cli_markdown() -> str:
    """The command-line reference: ``rstlab --help`` and every subcommand's ``--help``."""
    from rstlab.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH  # argparse wraps at the terminal's width
    try:
        top = build_parser()
        out = ["# Command line", "",
               "Every command's `--help`, generated from the parser in `rstlab/cli.py` when the site is built.",
               "", "```text", top.format_help().rstrip(), "```", ""]
        for name, sub in _subparsers(top):
            out += [f"## `rstlab {name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(out)


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, CLI_PAGE, content=cli_markdown()))
    return files


def _drop_role(m: re.Match[str]) -> str:
    name = m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2)
    return f"<code>{name}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    html = _ROLE.sub(_drop_role, html)
    # reST's literal-block marker: "text::" ends a sentence with a colon, a lone "::" is dropped.
    return html.replace("<p>::</p>", "").replace("::</p>", ":</p>")
