"""Checks the import contracts of pyproject.toml's [tool.importlinter] with import-linter.

import-linter reads a package from one folder, while this repository assembles
executorch_tensorrt from several top-level folders (pyproject's package-dir). So the
package's Python files are laid out as a wheel installs them, in a temporary folder, and
lint-imports checks that copy. Prints lint-imports' report; exits with its status.

    .venv/bin/python scripts/lint_imports.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package_sources() -> dict[str, Path]:
    """{package name: the repository folder holding its modules}."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = setup.get("package-dir", {})
    found = {}
    for pkg in setup["packages"]:
        base = max((p for p in dirs if pkg == p or pkg.startswith(p + ".")), key=len, default=None)
        rest = pkg[len(base) + 1 :] if base and pkg != base else ("" if base else pkg)
        folder = ROOT / (dirs[base] if base else "") / rest.replace(".", "/")
        found[pkg] = folder
    return found


def lay_out(dest: Path) -> None:
    for pkg, folder in package_sources().items():
        target = dest / pkg.replace(".", "/")
        target.mkdir(parents=True, exist_ok=True)
        for source in folder.glob("*.py"):
            shutil.copy2(source, target / source.name)


def lint(tree: Path) -> subprocess.CompletedProcess:
    """lint-imports on a package tree lay_out made; its report in stdout."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    if not lint_imports.exists():
        raise FileNotFoundError(f"lint-imports not found beside {sys.executable}: run scripts/setup.sh")
    return subprocess.run(
        [str(lint_imports), str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=dict(os.environ, PYTHONPATH=str(tree)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        lay_out(Path(tmp))
        result = lint(Path(tmp))
    print(result.stdout, end="")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
