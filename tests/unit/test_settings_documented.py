"""Every setting an operator can set appears in the configuration table."""

from __future__ import annotations

from pathlib import Path

from ordinaut.core.settings import Settings

TABLE = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()


def test_every_setting_is_documented() -> None:
    names = []
    for name, field in Settings.model_fields.items():
        if field.alias:
            names.append(field.alias)
        elif field.validation_alias is not None:
            names.append(str(field.validation_alias.choices[0]))  # type: ignore[union-attr]
        else:
            names.append(name.upper())
    missing = [n for n in names if f"`{n}`" not in TABLE]
    assert missing == []
