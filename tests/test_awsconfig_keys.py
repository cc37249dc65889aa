"""Access keys as users bring them: pasted, or in either of the IAM console's CSV downloads."""

from __future__ import annotations

import pytest
from fixtures_awsconfig import ACCESS_KEY_ID, SECRET_ACCESS_KEY, assert_no_secret, write

from onboard.awsconfig import clean_access_key, read_credentials_csv
from onboard.errors import UsageError
from onboard.secrets import Secret

CONSOLE_PASSWORD = "Cons0le-Passw0rd!"


def error_text(error: UsageError) -> str:
    return f"{error} {error.message} {error.hint} {error.to_dict()!r} {error!r}"


def test_a_clean_key_passes_without_notices():
    key = clean_access_key(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    assert key.access_key_id == ACCESS_KEY_ID
    assert key.secret_access_key == Secret(SECRET_ACCESS_KEY)
    assert key.notices == () and not key.is_temporary
    assert_no_secret(repr(key))


def test_stray_whitespace_is_removed_with_a_notice():
    key = clean_access_key(f" {ACCESS_KEY_ID}\t", Secret(f"{SECRET_ACCESS_KEY}\n"))
    assert key.access_key_id == ACCESS_KEY_ID and key.secret_access_key.reveal() == SECRET_ACCESS_KEY
    assert key.notices == (
        "Removed 2 stray whitespace characters from the access key ID.",
        "Removed 1 stray whitespace character from the secret access key.",
    )


def test_a_temporary_key_is_noticed():
    key = clean_access_key("ASIA" + ACCESS_KEY_ID[4:], SECRET_ACCESS_KEY)
    assert key.is_temporary and "session token" in key.notices[-1]


@pytest.mark.parametrize(
    ("access_key_id", "secret", "expected"),
    [
        (SECRET_ACCESS_KEY, ACCESS_KEY_ID, "swapped"),
        (ACCESS_KEY_ID, ACCESS_KEY_ID, "swapped"),
        (ACCESS_KEY_ID.lower(), SECRET_ACCESS_KEY, "upper-case"),
        ("AKIA123", SECRET_ACCESS_KEY, "AKIA (or ASIA"),
        ("ABIA" + ACCESS_KEY_ID[4:], SECRET_ACCESS_KEY, "AKIA (or ASIA"),
        (ACCESS_KEY_ID, SECRET_ACCESS_KEY[:39], "39 characters long"),
        (ACCESS_KEY_ID, SECRET_ACCESS_KEY + "x", "41 characters long"),
        (ACCESS_KEY_ID, SECRET_ACCESS_KEY[:39] + "\u00e9", "characters a secret access key never has"),
    ],
)
def test_wrong_shapes_are_explained_without_the_secret(access_key_id, secret, expected):
    with pytest.raises(UsageError) as raised:
        clean_access_key(access_key_id, secret)
    text = error_text(raised.value)
    assert expected in text
    assert_no_secret(text)
    assert SECRET_ACCESS_KEY[:39] not in text


ACCESS_KEY_CSV = f"Access key ID,Secret access key\r\n{ACCESS_KEY_ID},{SECRET_ACCESS_KEY}\r\n"
USER_CSV = (
    "User name,Password,Access key ID,Secret access key,Console login link\n"
    f"alice,{CONSOLE_PASSWORD},{ACCESS_KEY_ID},{SECRET_ACCESS_KEY},https://111122223333.signin.aws.amazon.com/console\n"
)


@pytest.mark.parametrize(
    ("content", "user_name"),
    [
        ("\ufeff" + ACCESS_KEY_CSV, None),  # as the console writes it: BOM and CRLF
        (ACCESS_KEY_CSV.replace("\r\n", "\n"), None),
        (USER_CSV, "alice"),
        ("\ufeff" + USER_CSV.replace("\n", "\r\n") + "\r\n", "alice"),
        (f"access key id , secret access key\n {ACCESS_KEY_ID} ,{SECRET_ACCESS_KEY} \n", None),
    ],
)
def test_both_console_csv_files_are_read(tmp_path, content, user_name):
    path = write(tmp_path / "alice_accessKeys.csv", content)
    key = read_credentials_csv(path)
    assert (key.access_key_id, key.secret_access_key.reveal(), key.user_name) == (
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        user_name,
    )
    assert CONSOLE_PASSWORD not in repr(key)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Access key ID,Secret access key\n", "holds no access key"),
        (
            "User name,Password,Access key ID,Secret access key,Console login link\n"
            f"alice,{CONSOLE_PASSWORD},,,https://example/console\n",
            "holds no access key",
        ),
        (ACCESS_KEY_CSV + "AKIAOTHEROTHEROTHER1," + "y" * 40 + "\r\n", "holds 2 access keys"),
        (f"{ACCESS_KEY_ID},{SECRET_ACCESS_KEY}\n", "no 'Access key ID' and 'Secret access key' columns"),
        (f"[default]\naws_secret_access_key = {SECRET_ACCESS_KEY}\n", "no 'Access key ID'"),
        (b"\xff\xfe\x00binary", "not a text CSV"),
        (
            f"Access key ID,Secret access key\n{ACCESS_KEY_ID},{SECRET_ACCESS_KEY[:30]}\n",
            "30 characters long",
        ),
    ],
)
def test_unusable_csv_files_are_explained_without_secrets(tmp_path, content, expected):
    path = write(tmp_path / "keys.csv", content)
    with pytest.raises(UsageError) as raised:
        read_credentials_csv(path)
    text = error_text(raised.value)
    assert expected in text
    assert_no_secret(text)
    assert CONSOLE_PASSWORD not in text and SECRET_ACCESS_KEY[:30] not in text


def test_a_missing_csv_names_the_path(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        read_credentials_csv(tmp_path / "nowhere.csv")
