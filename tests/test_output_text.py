"""What onboard prints for people is the text it means, character for character."""

from __future__ import annotations

from onboard.errors import OnboardError
from onboard.output import print_error


def test_emoji_codes_in_names_and_messages_are_printed_as_written(capsys):
    print_error(
        OnboardError("cannot read :smile:.txt", "Rename :warning: or [bold]this[/bold]."), as_json=False
    )
    err = capsys.readouterr().err
    assert "cannot read :smile:.txt" in err
    assert "Rename :warning: or [bold]this[/bold]." in err
