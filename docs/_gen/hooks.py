"""mkdocs hooks (mkdocs.yml ``hooks:``): the cause pages join the nav in the registry's order
and get the drawn ladder (``rstlab.plot.ladder``) of the connection their text ladder shows; the
command-line page is generated at build time from the argparse parser, so it follows
``rstlab/cli.py`` with nothing to regenerate."""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The sentence docs/_gen/causes.py writes above each cause page's text ladder.
_LADDER_SOURCE = re.compile(r"Connection (\d+) of the lab's capture `(tests/fixtures/lab/[\w.-]+)`[^\n]*\n.*?```text\n.*?\n```\n",
                            re.S)

CLI_PAGE = "cli.md"
# rstlab's docstrings use Sphinx roles (``:class:`Trace```, ``:func:`~rstlab.errors.X```), which
# Markdown renders as the role's name then code: keep the code, drop the role (and ``~``'s path).
_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|exc|mod|data|obj):<code>(~?)([^<]+)</code>")
HELP_WIDTH = "80"  # what the content column shows without scrolling


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


def _figure(m: re.Match[str]) -> str:
    import rstlab
    from rstlab import plot

    conn = rstlab.read(os.path.join(ROOT, m[2])).connection(int(m[1]))
    svg = plot.svg_inline(plot.ladder, conn, max_segments=24)
    svg = "\n".join(line for line in svg.splitlines() if line.strip())
    return (m[0] + "\nThe same connection drawn by `rstlab.plot.ladder` (RSTs in red, with their cause):\n\n"
            + '<figure class="rstlab-ladder">\n' + svg + "\n</figure>\n")


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if not page.file.src_uri.startswith("causes/"):
        return markdown
    try:
        import matplotlib  # noqa: F401  (the plot extra)
    except ImportError:
        return markdown
    return _LADDER_SOURCE.sub(_figure, markdown, count=1)
