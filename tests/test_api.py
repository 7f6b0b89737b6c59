"""The public Python surface: the Cause enum equals the Rust taxonomy, the stub names what the
compiled module has, errors subclass the stdlib classes users catch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import rstlab
from rstlab import _rstlab


def test_cause_enum_is_the_rust_taxonomy_in_order() -> None:
    assert [c.value for c in rstlab.Cause] == [row[0] for row in _rstlab.causes()]
    assert "injected" in {c.value for c in rstlab.Cause}


def test_stub_lists_exactly_the_compiled_module() -> None:
    stub = Path(rstlab.__file__).with_name("_rstlab.pyi")
    tree = ast.parse(stub.read_text())
    names = {n.name for n in tree.body
             if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")}
    public = {n for n in dir(_rstlab) if not n.startswith("_")}
    assert names == public


def test_import_leaves_pyarrow_and_numpy_for_first_use() -> None:
    # `import rstlab` stays quick (the command line, pytest collection) and starts no BLAS
    # threads; a table's first conversion imports pyarrow.
    code = "import sys, rstlab; print('pyarrow' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_errors_are_the_stdlib_classes_users_catch(tmp_path: Path) -> None:
    assert issubclass(rstlab.TraceFormatError, ValueError)
    assert issubclass(rstlab.PrivilegeError, PermissionError)
    assert issubclass(rstlab.ScenarioTimeout, TimeoutError)
    assert issubclass(rstlab.ScenarioError, ValueError)
    assert issubclass(rstlab.LabError, OSError)
    with pytest.raises(FileNotFoundError) as e:
        rstlab.read(tmp_path / "missing.pcap")
    assert e.value.filename == str(tmp_path / "missing.pcap")
