"""The package as users get it: built into an sdist and a wheel by a standard build frontend,
installed from the wheel into a fresh virtual environment, and run outside the source tree."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.support import HEALTH

ROOT = Path(__file__).resolve().parent.parent


def _build(kind: str, outdir: Path) -> Path:
    result = subprocess.run([sys.executable, "-m", "build", f"--{kind}", "--outdir", str(outdir),
                             str(ROOT)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    [built] = outdir.glob("*.tar.gz" if kind == "sdist" else "*.whl")
    return built


def test_sdist_ships_what_its_tests_need(tmp_path: Path) -> None:
    sdist = _build("sdist", tmp_path)
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    needed = {"tests/__init__.py", "tests/conftest.py", "tests/data/junit-10.xsd",
              "tests/lowest-deps.txt", "examples/shop/server.py", "examples/shop/launch.py",
              "examples/smoke/test_shop.py", "LICENSE", "Makefile", "pytest_prodsmoke/py.typed"}
    assert needed <= names, sorted(needed - names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_wheel_installs_and_runs_a_gate(tmp_path: Path, shop) -> None:
    wheel = _build("wheel", tmp_path / "dist")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    suite = tmp_path / "suite"  # outside the source tree: only the installed package is there
    suite.mkdir()
    (suite / "test_smoke.py").write_text(HEALTH)
    run = subprocess.run([str(python), "-m", "pytest", "-p", "no:cacheprovider", "-n", "2",
                          "--prod-url", shop.url, "--expect-version", "2.0.0",
                          "--gate-report", "gate.json", "."],
                         cwd=suite, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    report = json.loads((suite / "gate.json").read_text())
    assert report["verdict"] == "pass"
    where = subprocess.run([str(python), "-c", "import pytest_prodsmoke; "
                            "print(pytest_prodsmoke.__file__)"],
                           capture_output=True, text=True, cwd=suite, check=True)
    assert str(venv) in where.stdout, "the plugin did not come from the installed wheel"


@pytest.mark.skipif(sys.version_info >= (3, 11), reason="tomllib is built in")
def test_fake_users_from_toml_on_python_3_10(tmp_path: Path) -> None:
    """Python 3.10 reads TOML with the tomli dependency."""
    from pytest_prodsmoke.safety.users import parse_users_text

    records = parse_users_text('[[users]]\nusername = "smoke-a"\n', "--fake-users", toml=True)
    assert records == [{"username": "smoke-a"}]
