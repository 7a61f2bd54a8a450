"""``plugin_template/`` renders with copier into a package whose own tests pass as rendered.

(``.ci/plugin-template`` also installs the rendered package and checks the registry lists it.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import copier
import pytest

TEMPLATE = Path(__file__).resolve().parents[2] / "plugin_template"


def render(destination: Path, name: str) -> Path:
    copier.run_copy(str(TEMPLATE), destination, data={"plugin_name": name}, defaults=True, unsafe=True, quiet=True)
    return destination


def test_the_template_renders_a_package_named_after_the_plugin(tmp_path: Path) -> None:
    rendered = render(tmp_path / "out", "my-store")
    project = tomllib.loads((rendered / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["name"] == "assets-registry-my-store"
    assert project["project"]["entry-points"]["assets_registry"] == {"my-store": "assets_registry_my_store.plugin"}
    assert {"test", "lint"} <= set(project["project"]["optional-dependencies"])
    package = rendered / "src" / "assets_registry_my_store"
    assert sorted(p.name for p in package.glob("*.py")) == ["__init__.py", "plugin.py", "steps.py", "store.py"]
    assert 'SCHEME = "my-store"' in (package / "store.py").read_text(encoding="utf-8")
    assert "class MyStoreBlobStore" in (package / "store.py").read_text(encoding="utf-8")
    assert (rendered / ".copier-answers.yml").is_file(), "copier update can follow the template"


def test_the_rendered_packages_tests_pass_as_rendered(tmp_path: Path) -> None:
    rendered = render(tmp_path / "out", "acme")
    environ = {**os.environ, "PYTHONPATH": str(rendered / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(rendered / "tests")],
        check=False,
        cwd=rendered,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout and "skipped" not in done.stdout


@pytest.mark.parametrize("name", ["Acme", "has space", "1st", "-dash", "x" * 40])
def test_a_plugin_name_that_cannot_name_a_package_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="lowercase letters, digits and dashes"):
        render(tmp_path / "out", name)
