"""README.md's hook reference is the spec file rendered: a changed hook without a regenerated README fails here."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from app.payments import reference


def test_the_readme_hook_reference_matches_the_hookspecs() -> None:
    text = reference.README.read_text(encoding="utf-8")

    assert reference.spliced(text) == text, (
        "README.md's hook reference differs from app/payments/hookspecs.py: run python -m app.payments.reference"
    )


def test_the_reference_gives_every_hook_its_signature_and_parameters() -> None:
    rendered = reference.render()

    for name, spec in reference.hook_specs():
        assert f"#### `{name}`" in rendered and f"def {name}(" in rendered
        for parameter in inspect.signature(spec).parameters:
            assert f"- `{parameter}`:" in rendered, f"{name}: {parameter} is not described"


def test_a_stale_reference_is_reported_then_regenerated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "README.md"
    stale.write_text(f"# Title\n\n{reference.BEGIN}\nold text\n{reference.END}\n\nAfter.\n", encoding="utf-8")
    monkeypatch.setattr(reference, "README", stale)

    assert reference.main(["--check"]) == 1 and "old text" in stale.read_text(encoding="utf-8")
    assert reference.main([]) == 0
    assert reference.main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8").endswith(f"{reference.END}\n\nAfter.\n")
