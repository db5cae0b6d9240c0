"""`pip install .` puts one name into site-packages: the wheel holds `bizbus/` and its metadata."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("schemas", "connectors", "flows", "deploy")


def test_the_wheel_installs_only_the_bizbus_namespace(tmp_path: Path) -> None:
    # Built from a copy: an in-tree build would leave build/ and *.egg-info in the repository.
    source = tmp_path / "source"
    for layer in LAYERS:
        shutil.copytree(ROOT / layer, source / layer, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path)]
    built = subprocess.run([*command, str(source)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = tmp_path.glob("bizbus-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {
        "bizbus",
        wheel.name.split("-py3")[0] + ".dist-info",
    }
    assert "bizbus/__init__.py" not in names  # a namespace: nothing else of ours to shadow
    for required in (
        "bizbus/flows/py.typed",
        "bizbus/deploy/kafka/pom.xml",
        "bizbus/deploy/cli/__init__.py",
    ):
        assert required in names
    assert not [name for name in names if name.startswith("bizbus/tests")]
