"""Shared fixtures: where the public traces are, and whether tshark is here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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
