"""One installable name: the wheel holds `kuroshio` only, no bare top-level import of our folders remains,
and of the fixtures only the demo web ships (never the hostile cases: compression and entity bombs)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("crawler", "scheduler", "storage", "digest", "fixtures")


def _python_files() -> list[Path]:
    roots = [REPO / folder for folder in (*FOLDERS, "tests", "benchmarks")]
    return [path for root in roots for path in root.rglob("*.py")
            if "hostile" not in path.parts and ".venv" not in path.parts]


def test_no_module_imports_our_folders_by_their_bare_names() -> None:
    bare = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            bare += [f"{path.relative_to(REPO)}:{node.lineno}: {name}" for name in names
                     if name.split(".")[0] in FOLDERS]
    assert bare == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    folder = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools writes build/ and egg-info beside the sources it builds.
    source = folder / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", ".typecheck", "build", "*.egg-info",
                                                                 "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(source)],
                   check=True, capture_output=True)
    [built] = folder.glob("kuroshio-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_installs_one_top_level_name(wheel: zipfile.ZipFile) -> None:
    top_level = {name.split("/")[0] for name in wheel.namelist() if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"kuroshio"}
    assert "kuroshio/__init__.py" not in wheel.namelist()  # a namespace: no folder of its own


def test_the_wheel_ships_the_demo_web_and_migrations_but_no_hostile_fixture(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert "kuroshio/fixtures/demo.toml" in names
    assert any(name.startswith("kuroshio/fixtures/web/focustaiwan.test/") for name in names)
    assert any(name.startswith("kuroshio/storage/migrations/versions/0001") for name in names)
    assert "kuroshio/digest/templates/digest.html.j2" in names
    assert {"kuroshio/digest/templates/web/base.html.j2", "kuroshio/digest/templates/web/web.css"} <= set(names)
    assert not [name for name in names if "/hostile/" in name or "/expected/" in name or "/seeds/" in name]
