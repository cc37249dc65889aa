"""The class list, the learner-name checks and the kits (onboard/classroom.py), on real files."""

from __future__ import annotations

import stat
import zipfile

import pytest

from onboard.awsconfig import read_credentials_csv
from onboard.classroom import (
    Learner,
    class_from_names,
    read_class_list,
    write_kit,
)
from onboard.errors import UsageError
from onboard.secrets import Secret
from onboard.team import load_team

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"


def _write(tmp_path, text: str, *, bom: bool = False):
    path = tmp_path / "class.csv"
    path.write_bytes(("\ufeff" if bom else "").encode("utf-8") + text.encode("utf-8"))
    return path


@pytest.mark.parametrize("bom", [False, True])
def test_a_class_list_with_comments_blank_lines_and_optional_columns(tmp_path, bom):
    path = _write(
        tmp_path,
        "name,display_name,email\r\n# the morning group\r\n"
        "alice,Alice Martin,alice@example.com\r\n\r\nbob\r\n",
        bom=bom,
    )
    listed = read_class_list(path)
    assert listed.learners == (Learner("alice", "Alice Martin", "alice@example.com"), Learner("bob"))
    assert listed.names == ("alice", "bob")
    assert listed.source == str(path)


def test_the_columns_may_come_in_any_order_and_only_name_is_required(tmp_path):
    path = _write(tmp_path, "email,name\ncara@example.com,cara\n")
    assert read_class_list(path).learners == (Learner("cara", "", "cara@example.com"),)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("display_name,email\nAlice,a@example.com\n", "line 1: the header row has no 'name' column"),
        ("name,phone\nalice,123\n", "line 1: unknown column 'phone'"),
        ("name\nalice\nbad name\n", "line 3: 'bad name' is not a valid IAM user name"),
        ("name\n" + "x" * 65 + "\n", "line 2: '" + "x" * 65 + "' is not a valid IAM user name"),
        ("name\nalice\n# a comment\nAlice\n", "line 4: 'Alice' is already on line 2"),
        ("name\n,Alice\n", "line 2: the name cell is empty"),
        ("name\nbob\nbob-x\n", "'bob-x' begins with 'bob' followed by '-'"),
        ("name\n", "lists no learner"),
        ("", "is empty"),
    ],
)
def test_a_bad_class_list_names_the_file_the_line_and_the_reason(tmp_path, text, says):
    path = _write(tmp_path, text)
    with pytest.raises(UsageError) as raised:
        read_class_list(path)
    assert str(path) in str(raised.value)
    assert says in str(raised.value)
    assert raised.value.hint


def test_a_missing_or_non_utf8_class_list_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        read_class_list(tmp_path / "nothing.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name,display_name\nalice,Al\xe9\n".encode("latin-1"))
    with pytest.raises(UsageError, match="not UTF-8"):
        read_class_list(latin)


def test_learners_given_on_the_command_line_are_checked_the_same_way():
    assert class_from_names([" alice", "bob ", ""]).names == ("alice", "bob")
    with pytest.raises(UsageError, match="named twice"):
        class_from_names(["alice", "ALICE"])
    with pytest.raises(UsageError, match="begins with 'bob' followed by '-'"):
        class_from_names(["bob", "bob-x"])
    with pytest.raises(UsageError, match="not a valid IAM user name"):
        class_from_names(["al/ice"])
    with pytest.raises(UsageError, match="names no learner"):
        class_from_names([" ", ""])
    # Names that only share a start without the '-' are fine: bob's sessions are bob-<id>, not bobby-<id>.
    assert class_from_names(["bob", "bobby", "bob.x"]).names == ("bob", "bobby", "bob.x")


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_kit_is_a_private_folder_and_zip_the_wizard_can_import(tmp_path):
    team_text = 'version = 1\nteam = "class"\nregion = "eu-west-1"\nprofile = "ssm"\n'
    kit = write_kit(
        tmp_path / "kits",
        Learner("alice", "Alice Martin"),
        team_text=team_text,
        access_key_id=KEY_ID,
        secret_access_key=Secret(SECRET),
        ca_bundle_pem="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    assert kit.folder == tmp_path / "kits" / "alice"
    assert sorted(path.name for path in kit.folder.iterdir()) == [
        "WELCOME.txt",
        "alice_accessKeys.csv",
        "ca.pem",
        "team.toml",
    ]
    assert _mode(kit.folder) == 0o700
    assert all(_mode(path) == 0o600 for path in kit.folder.iterdir())
    assert _mode(kit.zip_path) == 0o600
    # What `onboard setup --credentials-csv` and `--team` read.
    key = read_credentials_csv(kit.credentials_csv)
    assert (key.access_key_id, key.secret_access_key.reveal()) == (KEY_ID, SECRET)
    header = kit.credentials_csv.read_text(encoding="utf-8").splitlines()[0]
    assert header == "Access key ID,Secret access key"
    assert load_team(kit.team_file).team == "class"
    welcome = (kit.folder / "WELCOME.txt").read_text(encoding="utf-8")
    assert "Alice Martin" in welcome
    assert "onboard setup --credentials-csv alice_accessKeys.csv --team team.toml" in welcome
    assert SECRET not in welcome
    with zipfile.ZipFile(kit.zip_path) as archive:
        names = sorted(archive.namelist())
        assert names == sorted(f"alice/{path.name}" for path in kit.folder.iterdir())
        assert all((info.external_attr >> 16) & 0o777 == 0o600 for info in archive.infolist())
        assert archive.read("alice/team.toml").decode() == team_text


def test_a_kit_written_again_replaces_the_old_key_and_tightens_the_folder(tmp_path):
    (tmp_path / "kits" / "bob").mkdir(parents=True)
    (tmp_path / "kits" / "bob").chmod(0o755)
    for secret in ("a" * 40, "b" * 40):
        kit = write_kit(
            tmp_path / "kits",
            Learner("bob"),
            team_text="version = 1\n",
            access_key_id=KEY_ID,
            secret_access_key=Secret(secret),
        )
    assert _mode(kit.folder) == 0o700
    assert read_credentials_csv(kit.credentials_csv).secret_access_key.reveal() == "b" * 40
    assert not (kit.folder / "ca.pem").exists()
    assert not [path for path in kit.folder.iterdir() if "onboard-tmp" in path.name]
