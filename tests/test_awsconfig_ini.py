"""The line reader agrees with configparser (what botocore uses) on every file, odd ones included."""

from __future__ import annotations

import configparser
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onboard.awsconfig.ini import Role, config_section_identity, parse

LINES = st.sampled_from(
    [
        "[default]",
        "[profile ssm]",
        "  [profile ssm]",
        "[profile  ssm] # note",
        '[profile "ssm"]',
        "[profile]",
        "[ssm]",
        "[DEFAULT]",
        "[sso-session corp]",
        "[services lab]",
        "region = eu-west-1",
        "region=us-east-1 # inline",
        "Region : eu-north-1",
        "output = json",
        "  output = text",
        "s3 =",
        "    addressing_style = path",
        "\tmax_concurrent_requests = 4",
        "= nameless",
        "just words",
        "# comment",
        "  ; indented comment",
        "",
        "   ",
        "endpoint_url = http://127.0.0.1:4566/#x",
    ]
)
ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


def _configparser_view(text: str) -> dict[str, dict[str, str]] | None:
    """What RawConfigParser reads from ``text`` written to a file (as botocore reads it), or None on error."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config"
        path.write_bytes(text.encode("utf-8"))
        parser = configparser.RawConfigParser()
        try:
            parser.read([path])
        except configparser.Error:
            return None
    view = {name: dict(parser._sections[name]) for name in parser.sections()}
    if parser.defaults():
        view[configparser.DEFAULTSECT] = dict(parser.defaults())
    return view


def _our_view(text: str) -> dict[str, dict[str, str]]:
    view: dict[str, dict[str, str]] = {}
    for section in parse(text).sections:
        view.setdefault(section.header, {}).update({entry.key: entry.value for entry in section.entries})
    if not view.get(configparser.DEFAULTSECT, True):  # configparser keeps no trace of an empty [DEFAULT]
        del view[configparser.DEFAULTSECT]
    return view


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(LINES, ENDINGS), max_size=14), st.booleans())
def test_reader_agrees_with_configparser(lines, final_newline):
    text = "".join(line + ending for line, ending in lines)
    if not final_newline:
        text = text.rstrip("\r\n")
    expected = _configparser_view(text)
    document = parse(text)
    assert (expected is None) == bool(document.issues), document.issues
    if expected is not None:
        assert _our_view(text) == expected
    # Every byte is accounted for: the lines put back together are the text.
    assert document.text() == text


def test_indented_header_after_a_key_is_a_continuation_as_in_configparser():
    document = parse("[default]\nregion = eu-west-1\n  [profile ssm]\n")
    assert [line.role for line in document.lines] == [Role.HEADER, Role.OPTION, Role.CONTINUATION]
    assert document.sections[0].entries[0].value == "eu-west-1\n[profile ssm]"


def test_headers_are_named_as_botocore_names_them():
    assert config_section_identity("profile  ssm") == ("profile", "ssm")
    assert config_section_identity('profile "ssm"') == ("profile", "ssm")
    assert config_section_identity("default") == ("profile", "default")
    assert config_section_identity("profile default") == ("profile", "default")
    assert config_section_identity("sso-session corp") == ("sso-session", "corp")
    assert config_section_identity("profile") == ("other", "profile")
    assert config_section_identity("ssm") == ("other", "ssm")
    assert config_section_identity('profile "unclosed') == ("other", 'profile "unclosed')
