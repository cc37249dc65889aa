"""The user's aliases file is read like every TOML file onboard reads (onboard.tomlfile)."""

from __future__ import annotations

import os

import pytest

from onboard.errors import UsageError
from onboard.everyday.aliases import add_alias, load_aliases


def test_a_fifo_named_aliases_toml_is_refused_instead_of_blocking(tmp_path):
    path = tmp_path / "aliases.toml"
    os.mkfifo(path)
    with pytest.raises(UsageError, match="is not a regular file") as raised:
        load_aliases(path)
    assert str(path) in raised.value.message


def test_a_broken_aliases_file_names_the_file_and_the_way_out(tmp_path):
    path = tmp_path / "aliases.toml"
    path.write_text("[aliases]\nnotebook = i-0a1b2c3d4e5f60001\n", encoding="utf-8")
    with pytest.raises(UsageError, match="not valid TOML") as raised:
        load_aliases(path)
    assert str(path) in raised.value.message
    assert "onboard hosts alias" in (raised.value.hint or "")


def test_aliases_written_are_read_back_and_a_missing_file_is_none(tmp_path):
    path = tmp_path / "aliases.toml"
    assert load_aliases(path) == {}
    add_alias("notebook", "i-0a1b2c3d4e5f60001", None, path)
    assert load_aliases(path) == {"notebook": "i-0a1b2c3d4e5f60001"}
