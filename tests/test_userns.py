"""The lab for an ordinary user, through the Python API: the acceptance scenarios run by uid
65534 (no capabilities) give the verdicts and causes root's runs give, with ``kernel_reason``
``None`` and a note saying why.

Run as root (CI): the test drops to uid 65534 with ``setpriv`` and runs a world-readable copy of
the installed package under a world-readable interpreter (the build tree, /root and a pyenv
under it are closed to that uid). The expected values come from root runs in this process:
their causes are the ones the kernel's own reasons imply (checked here against the oracle).
"""

from __future__ import annotations

import json

import pytest

import rstlab
import rstlab.causes
import rstlab.lab as lab

from conftest import NOBODY

ACCEPTANCE = [(n, v) for n in ("s1_closed_port", "s10_crash_reboot", "s11_linger_zero") for v in (4, 6)]

# Runs in the unprivileged interpreter; prints one JSON document. Reads the run's RSTs from the
# native run (the Table view needs pyarrow, which the system interpreter may lack).
CHILD = r"""
import json, sys
import rstlab.lab as lab
out = {"mode": lab.mode(), "privileges": lab.privileges(), "runs": []}
for name, v in json.loads(sys.argv[1]):
    r = lab.run(name, v)
    out["runs"].append({"name": name, "v": v, "verdict": r.verdict, "oracle_available": r.oracle_available,
                        "oracle_note": r.oracle_note,
                        "resets": [{"cause": x["cause"], "kernel_reason": x["kernel_reason"]} for x in r._native.resets]})
print(json.dumps(out))
"""


def _first(items: list[str]) -> list[str]:
    out: list[str] = []
    for x in items:
        if x not in out:
            out.append(x)
    return out


@pytest.fixture(scope="module")
def unprivileged(as_nobody) -> dict:
    if lab.privileges():
        pytest.skip(f"lab not available here: {lab.privileges()}")
    out = as_nobody(CHILD, json.dumps(ACCEPTANCE))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_an_ordinary_user_runs_in_a_user_namespace(unprivileged: dict) -> None:
    if unprivileged["mode"] is None:
        pytest.skip(f"uid {NOBODY} may not create user namespaces here: {unprivileged['privileges']}")
    assert unprivileged["mode"] == "userns" and unprivileged["privileges"] is None


@pytest.mark.parametrize("i", range(len(ACCEPTANCE)), ids=[f"{n}-v{v}" for n, v in ACCEPTANCE])
def test_ordinary_user_gets_roots_verdict_and_causes(unprivileged: dict, i: int) -> None:
    if unprivileged["mode"] is None:
        pytest.skip(f"uid {NOBODY} may not create user namespaces here")
    name, v = ACCEPTANCE[i]
    mine = unprivileged["runs"][i]
    assert (mine["name"], mine["v"]) == (name, v)
    theirs = lab.run(name, v)
    assert theirs.oracle_available, theirs.oracle_note
    kernel = [x["kernel_reason"] for x in theirs.resets]
    assert kernel and all(kernel), f"root's RSTs all carry a kernel reason: {kernel}"
    # The causes the kernel's reasons imply are what root's classifier said (the ground truth).
    implied = {c.id: set(c.kernel_reasons) for c in rstlab.causes.registry()}
    root_causes = [x["cause"] for x in theirs.resets]
    assert all(k in implied[c] for c, k in zip(root_causes, kernel)), (root_causes, kernel)
    assert mine["verdict"] == theirs.verdict
    assert _first([x["cause"] for x in mine["resets"]]) == _first(root_causes)
    assert all(x["kernel_reason"] is None for x in mine["resets"])
    assert not mine["oracle_available"]
    assert "needs real root" in mine["oracle_note"] and "user namespace" in mine["oracle_note"]
