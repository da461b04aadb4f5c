"""The lock files agree with pyproject.toml, pin everything with hashes, and every imported package is declared."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(line) for line in PROJECT["dependencies"]]
TEST = [Requirement(line) for line in PROJECT["optional-dependencies"]["test"]]
LOCKS = {"requirements.lock": RUNTIME, "requirements-dev.lock": RUNTIME + TEST}
OURS = "inference-billing (pyproject.toml)"
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)")


def read_lock(name: str) -> dict[str, tuple[str, int, set[str]]]:
    """Each pinned package: (version, number of hashes, what asked for it)."""
    pins: dict[str, tuple[str, int, set[str]]] = {}
    current = ""
    for line in (ROOT / name).read_text().splitlines():
        if found := _PIN.match(line):
            current = canonicalize_name(found[1])
            pins[current] = (found[2], 0, set())
        elif current and "--hash=sha256:" in line:
            version, hashes, via = pins[current]
            pins[current] = (version, hashes + 1, via)
        elif current and line.strip().startswith("#"):
            text = line.strip("# ").removeprefix("via").strip()
            if text:
                pins[current][2].add(text)
    return pins


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_declared_requirement_is_pinned_within_its_bounds(lock: str) -> None:
    pins = read_lock(lock)
    wrong = []
    for requirement in LOCKS[lock]:
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            wrong.append(f"{requirement} is not in {lock}")
        elif not requirement.specifier.contains(pinned[0], prereleases=True):
            wrong.append(f"{requirement} but {lock} pins {pinned[0]}")
    assert not wrong, "pyproject.toml and the lock disagree (run `python3 dev.py lock`):\n" + "\n".join(wrong)


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_the_lock_holds_no_requirement_pyproject_dropped(lock: str) -> None:
    direct = {name for name, (_, _, via) in read_lock(lock).items() if OURS in via}
    declared = {canonicalize_name(requirement.name) for requirement in LOCKS[lock]}
    assert direct == declared, "pyproject.toml and the lock disagree (run `python3 dev.py lock`)"


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_pin_has_hashes(lock: str) -> None:
    pins = read_lock(lock)
    assert pins
    assert [name for name, (_, hashes, _) in pins.items() if hashes == 0] == []


def test_the_dev_lock_runs_the_runtime_lock_versions() -> None:
    runtime, dev = read_lock("requirements.lock"), read_lock("requirements-dev.lock")
    assert {name: dev[name][0] for name in runtime} == {name: pin[0] for name, pin in runtime.items()}


def imported_top_level_modules(*folders: str) -> set[str]:
    """Absolute imports of the code that ships (not the tests)."""
    modules: set[str] = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.partition(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.partition(".")[0])
    return modules


def test_every_imported_package_is_declared() -> None:
    third_party = imported_top_level_modules("app", "providers") - set(sys.stdlib_module_names)
    third_party -= {"app", "providers", "__future__"}
    owners = packages_distributions()
    declared = {canonicalize_name(requirement.name) for requirement in RUNTIME}
    undeclared = {
        module: owners.get(module)
        for module in third_party
        if not {canonicalize_name(name) for name in owners.get(module, [])} & declared
    }
    assert undeclared == {}, "imported by the app but not a dependency in pyproject.toml"
