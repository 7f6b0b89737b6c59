"""The documentation site (issue #17 item 5): built with ``mkdocs build --strict``, one page
checked in headless Chromium, the quickstart's examples run, the generated cause pages current,
and every reference to a document in the docstrings and the README resolves."""

from __future__ import annotations

import ast
import doctest
import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from rstlab.causes import registry

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FIX = ROOT / "tests" / "fixtures" / "lab"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", DOCS / "_gen" / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---- the cause pages --------------------------------------------------------------------------


def test_every_cause_has_prose_and_no_prose_is_left_over() -> None:
    with open(DOCS / "_gen" / "causes.toml", "rb") as fh:
        prose = tomllib.load(fh)
    assert list(prose) == [c.id for c in registry()], "docs/_gen/causes.toml: one table per registry cause, in order"
    for cid, t in prose.items():
        # `detection` (optional): how the classifier tells this cause from the wire.
        assert {"production", "remedy", "rfc"} <= set(t) <= {"production", "remedy", "rfc", "detection"}, cid
        assert len(t["production"].split()) >= 20 and len(t["remedy"].split()) >= 15, cid
        for q in t["rfc"]:
            assert re.match(r"RFC \d+ §\d+(\.\d+)*( |$)", q["source"]), (cid, q["source"])
            assert len(q["text"].split()) >= 3, cid


def test_cause_pages_are_what_the_generator_writes() -> None:
    want = _load("causes").pages()
    have = {p.name: p.read_text(encoding="utf-8") for p in (DOCS / "causes").glob("*.md")}
    assert sorted(want) == sorted(f"{c.id}.md" for c in registry())
    assert sorted(have) == sorted(want), "a cause without a page, or a page for no cause: python docs/_gen/causes.py"
    stale = [n for n in want if want[n] != have[n]]
    assert not stale, f"stale cause pages {stale}: python docs/_gen/causes.py"


def _zeek_rows(cause: str) -> list[tuple[str, str]]:
    text = (DOCS / "causes" / f"{cause}.md").read_text(encoding="utf-8")
    section = text.split("## Zeek conn_state", 1)[1].split("\n## ", 1)[0]
    return [(m[1], m[2]) for m in re.finditer(r"^\| `(\w+)` \| `(\w+)` \|", section, re.M)]


def test_cause_pages_zeek_states_mean_what_zeek_says() -> None:
    # Zeek's conn.log documentation: REJ "connection attempt rejected" (a SYN answered by a RST,
    # history "Sr"); RSTO / RSTR "established, originator / responder aborted"; in `history` an
    # upper-case letter is the originator's, lower-case the responder's, R / r a RST.
    assert _zeek_rows("refused") and all(s == "REJ" and h.startswith("S") and "r" in h for s, h in _zeek_rows("refused"))
    # The opener resets a SYN-ACK: the originator's RST after the responder's SYN-ACK.
    assert _zeek_rows("connect_abandoned") == [("RSTO", "ShR")]
    assert _zeek_rows("keepalive_timeout") and all(s == "RSTO" for s, _ in _zeek_rows("keepalive_timeout"))
    for cause in ("abort", "after_close", "no_connection", "handshake_abort", "injected"):
        rows = _zeek_rows(cause)
        assert rows, cause
        for state, hist in rows:
            if state == "SF":
                # Zeek: a side that sent FIN then RST, and a peer that then sends its own FIN, is
                # a normal termination with R / r in the history (its StartTLS baselines
                # `ShADadFRf`, `ShAdDafFr`).
                assert "F" in hist and "f" in hist and ("R" in hist or "r" in hist), (cause, state, hist)
                continue
            assert state in ("RSTO", "RSTR"), (cause, state)
            assert ("R" if state == "RSTO" else "r") in hist, (cause, state, hist)
    # No scenario makes these on Linux: the pages say so rather than show an empty table.
    assert _zeek_rows("retransmission_timeout") == [] and _zeek_rows("unknown") == []


def test_cause_page_kernel_reasons_are_the_recorded_ones() -> None:
    # kernel.tsv is what the kernel's tcp:tcp_send_reset reported when the fixtures were made.
    import csv

    with open(FIX / "kernel.tsv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["stack_sent"] == "yes"]
    for cause in {r["kernel_cause"] for r in rows}:
        want = {r["kernel_reason"] for r in rows if r["kernel_cause"] == cause}
        text = (DOCS / "causes" / f"{cause}.md").read_text(encoding="utf-8")
        seen = set(re.findall(r"^\| `([A-Z0-9_]+)` \| \d+ \|$", text, re.M))
        assert seen == want, cause
        assert all(f"`SK_RST_REASON_{k}`" in text for k in want), cause


# ---- the quickstart ---------------------------------------------------------------------------


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, re.S | re.M)


def test_quickstart_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from rstlab import lab

    text = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    langs = set(re.findall(r"^```(\w*)$", text, re.M)) - {""}
    assert langs == {"sh", "pycon", "console"}, f"a code block no test runs: {langs}"
    monkeypatch.chdir(ROOT)
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    globs: dict[str, object] = {}
    blocks = _blocks(text, "pycon")
    assert len(blocks) >= 5
    for i, block in enumerate(blocks):
        if "lab.run(" in block and lab.mode() is None:
            continue  # the lab cannot run here (lab.privileges() says why); the rest still must
        test = parser.get_doctest(block, globs, f"quickstart.md block {i}", str(DOCS / "quickstart.md"), 0)
        result = runner.run(test, out=sys.stdout.write, clear_globs=False)
        globs = test.globs  # DocTest copies its globals: carry the session to the next block
        assert result.failed == 0, f"quickstart.md pycon block {i} failed (see the output above)"
    # Installation: only the extras pyproject.toml declares.
    with open(ROOT / "pyproject.toml", "rb") as fh:
        extras = set(tomllib.load(fh)["project"]["optional-dependencies"])
    for block in _blocks(text, "sh"):
        for names in re.findall(r'pip install "?\.\[([\w,]+)\]', block):
            assert set(names.split(",")) <= extras, names


def test_quickstart_commands_run() -> None:
    from rstlab import lab

    text = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    cmds = [line[2:] for b in _blocks(text, "console") for line in b.splitlines() if line.startswith("$ ")]
    assert cmds
    exe = Path(sys.executable).with_name("rstlab")
    for cmd in cmds:
        argv = cmd.split()
        assert argv[0] == "rstlab", cmd
        if argv[1] == "run" and lab.mode() is None:
            continue
        prog = [str(exe)] if exe.exists() else [sys.executable, "-m", "rstlab"]
        p = subprocess.run(prog + argv[1:], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, (cmd, p.stderr)
        assert p.stdout.strip(), cmd


# ---- references to documents ------------------------------------------------------------------


def _docstrings(path: Path) -> list[tuple[int, str]]:
    """Every docstring of a module or stub: modules, classes, functions, and the string literal
    after an attribute (attribute docstrings, which griffe renders)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for stmt in body:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                out.append((stmt.lineno, stmt.value.value))
    return out


def _anchors(md: Path) -> set[str]:
    from markdown.extensions.toc import slugify

    text = re.sub(r"^```.*?^```", "", md.read_text(encoding="utf-8"), flags=re.S | re.M)
    return {slugify(re.sub(r"[`*]", "", h), "-") for h in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M)}


DOC_REF = re.compile(r"(?<![\w/.-])((?:docs|notes)/[\w./-]+\.md|[A-Z][A-Z_]+\.md)(#[\w-]+)?")
SECTION = re.compile(r"(\S+)\s+§\s*\d")


def _references() -> list[tuple[str, str]]:
    """(where, text) for every docstring of the package, and the README."""
    out = []
    for p in sorted((ROOT / "python" / "rstlab").rglob("*.py*")):
        if p.suffix in (".py", ".pyi"):
            out += [(f"{p.relative_to(ROOT)}:{line}", s) for line, s in _docstrings(p)]
    out.append(("README.md", (ROOT / "README.md").read_text(encoding="utf-8")))
    return out


def _unresolved(where: str, text: str) -> list[str]:
    bad = []
    for m in DOC_REF.finditer(text):
        target = ROOT / m[1]
        if not target.is_file():
            bad.append(f"{where}: {m[0]} (no such file)")
        elif m[2] and m[2][1:] not in _anchors(target):
            bad.append(f"{where}: {m[0]} (no heading with that anchor)")
    for m in SECTION.finditer(text):
        # "RFC 9293 §3.4" names an RFC's section; any other "X §n" names a section of one of our
        # documents, which must be written as a link to a file and heading anchor instead.
        before = text[:m.end(1)]
        if not re.search(r"RFC\s*\d+$", before):
            bad.append(f"{where}: {m[0]}… (a section reference that is not a docs/FILE.md#anchor)")
    return bad


def test_reference_check_catches_what_it_should() -> None:
    assert _unresolved("x", "see docs/causes.md") == []
    assert _unresolved("x", "see docs/nothing.md") != []
    assert _unresolved("x", "see docs/columns.md#connections") == []
    assert _unresolved("x", "see docs/columns.md#no-such-table") != []
    assert _unresolved("x", "Why a RST was sent (DESIGN §3).") != []
    assert _unresolved("x", "SYN and FIN count one, RFC 9293 §3.4") == []


def test_every_document_reference_resolves() -> None:
    refs = _references()
    assert len(refs) > 100, "found too few docstrings to be looking in the right place"
    assert sum(bool(DOC_REF.search(t)) for _, t in refs) >= 5
    bad = [b for where, text in refs for b in _unresolved(where, text)]
    # The README's own links ([text](path#anchor)) too: to a file or folder of this repository.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(#[\w-]+)?\)", readme)
    assert links
    for path, anchor in links:
        if re.match(r"\w+://", path):
            continue
        if not (ROOT / path).exists():
            bad.append(f"README.md: ({path}) (no such file)")
        elif anchor and anchor[1:] not in _anchors(ROOT / path):
            bad.append(f"README.md: ({path}{anchor}) (no heading with that anchor)")
    assert not bad, "\n".join(bad)


# ---- the site ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install '.[docs]')")
    pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra is not installed")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                       cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, p.stderr[-4000:]
    assert "WARNING" not in p.stderr, p.stderr[-4000:]
    print(f"mkdocs build --strict: {elapsed:.1f} s")
    return out


def test_site_has_every_page(site: Path) -> None:
    for name in ("index", "quickstart", "cli", "api", "columns", "json", "causes", "claims", "agreement",
                 "conformance", "catalogue-notes"):
        assert (site / f"{name}.html").is_file(), name
    for c in registry():
        page = (site / "causes" / f"{c.id}.html").read_text(encoding="utf-8")
        assert html.escape(c.description, quote=False) in page, c.id
    # RFC segment notation survives as text (Markdown would swallow it as HTML tags).
    assert "&lt;SEQ=SND.NXT&gt;&lt;CTL=RST&gt;" in (site / "causes" / "abort.html").read_text(encoding="utf-8")
    # The cause pages are in the navigation, in the registry's order.
    nav = (site / "index.html").read_text(encoding="utf-8")
    pos = [nav.find(f'href="causes/{c.id}.html"') for c in registry()]
    assert all(p > 0 for p in pos) and pos == sorted(pos)


def test_api_reference_documents_the_api(site: Path) -> None:
    import rstlab

    page = (site / "api.html").read_text(encoding="utf-8")
    for name in ("rstlab.trace.read", "rstlab.trace.Trace", "rstlab.trace.Connection", "rstlab.table.Table",
                 "rstlab.causes.Cause", "rstlab.lab.run", "rstlab.lab.Lab", "rstlab.errors.TraceFormatError",
                 "rstlab._rstlab.analyze_file", "rstlab._rstlab.LabRun"):
        assert f'id="{name}"' in page, name
    # Every name the package exports is documented where it is defined.
    for name in rstlab.__all__:
        obj = getattr(rstlab, name)
        if isinstance(obj, (type, type(len))) or callable(obj):
            assert f'id="{obj.__module__}.{obj.__qualname__}"' in page, name
    # Docstrings render: no Sphinx role and no reST literal marker shows through as text.
    text = re.sub(r"<[^>]+>", "", page)
    assert not re.search(r":(func|class|meth|attr|exc|mod|data):", text)
    assert "::\n" not in text


def test_cli_page_has_every_command(site: Path) -> None:
    import argparse

    from rstlab.cli import build_parser

    page = html.unescape(re.sub(r"<[^>]+>", "", (site / "cli.html").read_text(encoding="utf-8")))
    subs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert len(subs.choices) >= 8
    for name, sub in subs.choices.items():
        assert f"usage: rstlab {name}" in page, name
        for action in sub._actions:
            for opt in action.option_strings:
                assert opt in page, (name, opt)


def test_a_page_in_headless_chromium(site: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (make system-deps installs it as root)")
    page = site / "causes" / "abort.html"
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
                        "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    dom = p.stdout
    assert p.returncode == 0 and dom, p.stderr[-2000:]
    # The DOM after the browser ran the theme's scripts: the page title, the headings, the
    # rendered tables and the ladder.
    assert re.search(r"<title>abort - rstlab</title>", dom)
    assert re.search(r"<h1[^>]*>.*abort.*</h1>", dom)
    for heading in ("In production", "What to do", "What the RFCs say", "Linux kernel reasons", "Zeek conn_state",
                    "Lab scenarios"):
        assert re.search(rf"<h2[^>]*>{heading}", dom), heading
    zeek = dom.split('id="zeek-conn_state"', 1)[1]
    assert "<table>" in zeek[:3000] and "RSTO" in zeek[:3000]
    assert "RST: abort" in dom
    # The drawn ladder (rstlab.plot.ladder, inlined by the build hook) next to the text one.
    figure = dom.split('class="rstlab-ladder"', 1)[1]
    assert "<svg" in figure[:200] and "RST: abort" in figure
    assert "SK_RST_REASON_TCP_ABORT_ON_CLOSE" in dom
    # The theme's script ran: Material rewrites the search box and adds the copy buttons.
    assert "md-search" in dom
