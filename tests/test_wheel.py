"""The wheel users install: built by ``make wheel`` (``make install`` builds it once into dist/ and
installs that very file), a manylinux abi3 wheel with a stripped extension and the license, and it
works in a fresh virtual environment where no Rust toolchain can be found.

Expected values come from elsewhere: the platform tag from auditwheel, the sections from the ELF
file itself (pyelftools), the causes from the kernel's reasons recorded with the lab's captures
(``tests/fixtures/lab/kernel.tsv``).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent
FIX = REPO / "tests" / "fixtures" / "lab"

pytestmark = pytest.mark.slow


def _record_hash(whl: Path, member: str) -> str | None:
    """The sha256 the wheel's RECORD lists for ``member`` (urlsafe base64, as PEP 376 writes it)."""
    with zipfile.ZipFile(whl) as z:
        record = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
        for row in csv.reader(z.read(record).decode().splitlines()):
            if row and row[0] == member:
                return row[1].removeprefix("sha256=")
    return None


def _installed_extension_hash() -> str | None:
    try:
        import rstlab._rstlab as ext
    except ImportError:
        return None
    digest = hashlib.sha256(Path(ext.__file__).read_bytes()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory holding the wheel and sdist: dist/ when its wheel is the one installed here
    (what ``make install`` leaves), otherwise a fresh ``make wheel`` in a temporary directory."""
    wheels = sorted((REPO / "dist").glob("rstlab-*.whl"))
    if len(wheels) == 1:
        ext = next(n for n in zipfile.ZipFile(wheels[0]).namelist() if n.startswith("rstlab/_rstlab"))
        if _record_hash(wheels[0], ext) == _installed_extension_hash():
            return REPO / "dist"
    for tool, why in (("maturin", "maturin"), ("make", "make")):
        if shutil.which(tool) is None:
            pytest.skip(f"no wheel in dist/ matching the installed rstlab, and no {why} to build one")
    pytest.importorskip("ziglang", reason="make wheel links with zig: pip install ziglang")
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run(["make", "-C", str(REPO), "wheel", f"WHEEL_DIR={out}", f"PYTHON={sys.executable}"],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def wheel(dist: Path) -> Path:
    (whl,) = dist.glob("rstlab-*.whl")
    return whl


def test_wheel_is_manylinux_abi3_per_auditwheel(wheel: Path) -> None:
    # PEP 425 / 600 tags: one build for every CPython >= 3.11 (abi3) on glibc >= 2.17.
    assert "-cp311-abi3-" in wheel.name and "manylinux_2_17_x86_64" in wheel.name
    pytest.importorskip("auditwheel")
    r = subprocess.run([sys.executable, "-m", "auditwheel", "show", str(wheel)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert 'is consistent with the following platform tag: "manylinux_2_17_x86_64"' in text


def test_extension_is_stripped_and_license_carried(wheel: Path) -> None:
    elffile = pytest.importorskip("elftools.elf.elffile")
    import io

    with zipfile.ZipFile(wheel) as z:
        (so,) = [n for n in z.namelist() if n.startswith("rstlab/_rstlab") and n.endswith(".so")]
        data = z.read(so)
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        licenses = [n for n in z.namelist() if ".dist-info/licenses/" in n]
        license_text = z.read(licenses[0]).decode() if licenses else ""
    sections = {s.name for s in elffile.ELFFile(io.BytesIO(data)).iter_sections()}
    # Stripped: no static symbol table, no DWARF; the dynamic symbols Python needs stay.
    assert ".symtab" not in sections and not any(s.startswith(".debug") for s in sections), sections
    assert ".dynsym" in sections
    assert len(data) < 6_000_000
    # PEP 639 metadata (core metadata 2.4): the SPDX expression and the file itself.
    assert "License-Expression: MIT" in meta.splitlines()
    assert license_text == (REPO / "LICENSE").read_text() and "MIT License" in license_text


def test_sdist_holds_what_a_build_needs(dist: Path) -> None:
    (sdist,) = dist.glob("rstlab-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    workspace = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["members"]
    need = {"Cargo.toml", "Cargo.lock", "pyproject.toml", "README.md", "LICENSE",
            "python/rstlab/__init__.py", "python/rstlab/py.typed", "python/rstlab/_rstlab.pyi"}
    for crate in workspace:
        need |= {f"{crate}/Cargo.toml", f"{crate}/src/lib.rs"}
    assert need <= names, need - names
    # Every tracked source file of the package and of the crates is in it.
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files", "python/rstlab", *workspace],
                             capture_output=True, text=True)
    if tracked.returncode == 0:
        src = {f for f in tracked.stdout.split() if f.endswith((".rs", ".py", ".pyi", ".json", "Cargo.toml"))
               and "/fuzz/" not in f}
        assert src <= names, sorted(src - names)[:10]


def _kernel_causes() -> dict[tuple[str, int], str]:
    with open(FIX / "kernel.tsv", newline="") as fh:
        return {(r["file"], int(r["frame"])): r["kernel_cause"]
                for r in csv.DictReader(fh, delimiter="\t") if r["stack_sent"] == "yes"}


def _rows_with_cause(doc: Any) -> Iterator[dict[str, Any]]:
    """Every object in a JSON document with a ``frame`` and a ``cause`` (the resets)."""
    if isinstance(doc, dict):
        if "frame" in doc and "cause" in doc:
            yield doc
        for v in doc.values():
            yield from _rows_with_cause(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _rows_with_cause(v)


@pytest.fixture(scope="session")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A new virtual environment (no system site-packages) with the wheel and its one dependency
    (pyarrow, as a binary wheel from the index), and an environment whose PATH holds no cargo
    or rustc."""
    home = tmp_path_factory.mktemp("home")
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    path = os.pathsep.join([str(venv / "bin"), "/usr/bin", "/bin"])
    env = {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8",
           "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for k in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "HTTPS_PROXY", "HTTP_PROXY",
              "https_proxy", "http_proxy", "NO_PROXY", "no_proxy", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        if k in os.environ:
            env[k] = os.environ[k]
    for tool in ("cargo", "rustc", "rustup"):
        assert shutil.which(tool, path=path) is None, f"{tool} on the fresh venv's PATH"
    # --only-binary: nothing may be built from source, so no compiler could be asked for.
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--only-binary=:all:",
                        str(wheel)], env=env, capture_output=True, text=True, timeout=900)
    if r.returncode != 0 and "pyarrow" in r.stderr and ("connection" in r.stderr.lower()
                                                        or "No matching distribution" in r.stderr):
        pytest.skip(f"pyarrow could not be fetched from the package index: {r.stderr[-500:]}")
    assert r.returncode == 0, r.stderr
    return venv, env


def test_fresh_venv_classifies_lab_captures_like_the_kernel(fresh_venv: tuple[Path, dict[str, str]]) -> None:
    venv, env = fresh_venv
    kernel = _kernel_causes()
    code = (
        "import json, sys, pathlib, rstlab\n"
        "assert not any('site-packages' in p and not p.startswith(sys.prefix) for p in sys.path), sys.path\n"
        "out = {'file': rstlab.__file__, 'ext': rstlab._rstlab.__file__, 'resets': []}\n"
        "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.pcapng')):\n"
        "    for r in rstlab.read(p).resets:\n"
        "        out['resets'].append([p.name, r['frame'], r['cause']])\n"
        "print(json.dumps(out))\n"
    )
    r = subprocess.run([str(venv / "bin" / "python"), "-c", code, str(FIX)], env=env, cwd=str(venv.parent),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["file"].startswith(str(venv)) and out["ext"].startswith(str(venv))
    got = {(f, int(frame)): cause for f, frame, cause in out["resets"]}
    assert len(kernel) >= 30
    assert {k: got.get(k) for k in kernel} == kernel


@pytest.mark.parametrize("capture", ["s11_linger_zero-v4.pcapng", "s1_closed_port-v6.pcapng",
                                     "accept_overflow-v4.pcapng"])
def test_fresh_venv_cli_classifies(fresh_venv: tuple[Path, dict[str, str]], capture: str) -> None:
    venv, env = fresh_venv
    r = subprocess.run([str(venv / "bin" / "rstlab"), "classify", str(FIX / capture), "--format", "json"],
                       env=env, cwd=str(venv.parent), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = {int(row["frame"]): row["cause"] for row in _rows_with_cause(json.loads(r.stdout))}
    want = {frame: cause for (f, frame), cause in _kernel_causes().items() if f == capture}
    assert want and {f: got.get(f) for f in want} == want
