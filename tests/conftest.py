"""Shared fixtures: where the public traces are, whether tshark is here, and a way to run code
as an ordinary user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path | None:
    env = os.environ.get("RSTLAB_SHARED")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared"]:
        if (cand / "traces" / "MANIFEST.md").is_file():
            return cand
    return None


@pytest.fixture(scope="session")
def shared() -> Path:
    d = shared_dir()
    if d is None:
        where = os.environ.get("RSTLAB_SHARED") or str(REPO.parent / "shared")
        pytest.skip(f"needs ../shared/traces: no traces/MANIFEST.md under {where} "
                    "(set RSTLAB_SHARED or put shared/ beside the repo)")
    return d


@pytest.fixture(scope="session")
def traces(shared: Path) -> Path:
    return shared / "traces"


@pytest.fixture(scope="session")
def tshark() -> str:
    exe = shutil.which("tshark")
    if exe is None:
        pytest.skip("tshark not installed (apt-get install tshark)")
    return exe


def all_captures(traces: Path) -> list[Path]:
    return sorted(p for p in traces.rglob("*") if p.suffix in (".pcap", ".pcapng"))


NOBODY = "65534"


def _world_interpreter() -> str | None:
    """An interpreter uid 65534 can execute: one outside any 0700 directory."""
    for cand in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable):
        real = os.path.realpath(cand)
        if os.path.isfile(real) and all(os.stat(p).st_mode & 0o005 == 0o005 for p in Path(real).parents):
            return cand
    return None


@pytest.fixture(scope="session")
def as_nobody() -> Iterator[Callable[..., "subprocess.CompletedProcess[str]"]]:
    """``run(code, *args, timeout=300)``: Python ``code`` run as uid 65534 (no capabilities) with
    a world-readable copy of the installed package on its path. Run as root (CI): the build tree,
    /root and a pyenv under it are closed to that uid, so neither the package where pip put it
    nor root's interpreter would do."""
    import rstlab

    if os.geteuid() != 0:
        pytest.skip("drops from root to uid 65534: run as root")
    python = _world_interpreter()
    if python is None or shutil.which("setpriv") is None:
        pytest.skip("needs setpriv and a world-executable python3 to run as uid 65534")
    # Not pytest's tmp_path: its base directory is private to root.
    root = Path(tempfile.mkdtemp(prefix="rstlab-nobody-"))
    try:
        dest = root / "pkg"
        shutil.copytree(Path(rstlab.__file__).parent, dest / "rstlab")
        subprocess.run(["chmod", "-R", "a+rX", str(root)], check=True)
        if not all(os.stat(p).st_mode & 0o005 == 0o005 for p in root.parents):
            pytest.skip(f"the temporary directory {root} is not reachable by uid {NOBODY}")
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "PYTHONPATH": str(dest),
               "TMPDIR": str(root), "HOME": str(root)}

        def run(code: str, *args: str, timeout: float = 300) -> "subprocess.CompletedProcess[str]":
            return subprocess.run(["setpriv", "--reuid", NOBODY, "--regid", NOBODY, "--clear-groups", python, "-c",
                                   code, *args], env=env, cwd=root, capture_output=True, text=True, timeout=timeout)

        yield run
    finally:
        shutil.rmtree(root, ignore_errors=True)
