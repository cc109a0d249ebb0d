"""The package layout is part of the architecture: these tests keep it honest.

- Only ``mot_ros.ros`` talks to ROS: every other module imports with rclpy and every message
  package made unimportable (a meta-path finder that refuses them, in a fresh interpreter).
- No import circle: each module imports on its own in a fresh interpreter (a circle shows up
  as an ImportError for some import order), and nothing in ``mot_ros.detection`` except the
  factory imports the factory.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mot_ros"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


ALL_MODULES = sorted(_module_name(p) for p in PACKAGE.rglob("*.py"))
CORE_MODULES = [m for m in ALL_MODULES if not (m == "mot_ros.ros" or m.startswith("mot_ros.ros."))]

_BLOCK_ROS = """
import importlib.abc, sys
class _NoRos(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split('.')[0]
        if top in ('rclpy', 'rcl_interfaces', 'builtin_interfaces', 'cv_bridge', 'launch',
                   'launch_ros', 'rosidl_runtime_py', 'ament_index_python') \\
                or top.endswith('_msgs') or top.endswith('_srvs'):
            raise ImportError('ROS is not available here: ' + name)
        return None
sys.meta_path.insert(0, _NoRos())
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_tree_has_the_documented_rooms():
    for room in ("detection", "detection/formats", "tracking", "evaluation", "ros"):
        assert (PACKAGE / room / "__init__.py").is_file(), room
    # nothing but the shared value types, drawing and data locations at the top
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "data.py", "drawing.py", "types.py"], top


def test_core_imports_without_ros():
    assert len(CORE_MODULES) > 15
    code = _BLOCK_ROS + (
        "import importlib\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print('core imported:', len(sys.modules))\n"
        "import rclpy\n"  # proves the blocker works: this line must fail
    )
    result = _run(code)
    # every core module was imported before the deliberate failure on the last line
    assert "core imported:" in result.stdout, result.stderr
    assert result.returncode != 0
    assert "ROS is not available here: rclpy" in result.stderr, result.stderr


def test_ros_modules_are_the_ones_that_need_ros():
    """The adapter really is where ROS lives: its node module fails without rclpy."""
    result = _run(_BLOCK_ROS + "import mot_ros.ros.node\n")
    assert result.returncode != 0
    assert "ROS is not available here" in result.stderr


@pytest.mark.parametrize("module", CORE_MODULES)
def test_each_core_module_imports_alone(module):
    result = _run(_BLOCK_ROS + f"import {module}\n")
    assert result.returncode == 0, result.stderr


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_nothing_below_the_factory_imports_it():
    offenders = []
    for path in (PACKAGE / "detection").rglob("*.py"):
        if path.name in ("factory.py", "__init__.py"):
            continue
        if "mot_ros.detection.factory" in _imported_modules(path):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_core_never_imports_the_adapter():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "ros" in path.relative_to(PACKAGE).parts[:1]:
            continue
        if any(m == "mot_ros.ros" or m.startswith("mot_ros.ros.") for m in _imported_modules(path)):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
