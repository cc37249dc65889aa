"""Helpers for the ~/.aws writer tests: botocore as the judge, and made-up (never real) keys."""

from __future__ import annotations

import random
import string
from pathlib import Path

import botocore.session

from onboard.awsconfig import AwsFiles

# Shaped like real keys, generated here: never an account's key.
ACCESS_KEY_ID = "AKIA" + "".join(random.Random(1).choices(string.ascii_uppercase + string.digits, k=16))
SECRET_ACCESS_KEY = "".join(random.Random(2).choices(string.ascii_letters + string.digits + "+/", k=40))
SESSION_TOKEN = "".join(random.Random(3).choices(string.ascii_letters + string.digits + "+/=", k=120))
SECRETS = (SECRET_ACCESS_KEY, SESSION_TOKEN)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def botocore_session(files: AwsFiles, profile: str) -> botocore.session.Session:
    """A fresh botocore session reading exactly these two files, as `aws --profile PROFILE` would."""
    session = botocore.session.Session(profile=profile)
    session.set_config_variable("config_file", str(files.config))
    session.set_config_variable("credentials_file", str(files.credentials))
    return session


def botocore_reads(files: AwsFiles, profile: str) -> tuple[dict, tuple[str, str, str | None] | None]:
    """(the profile's scoped config, its (key id, secret, token) or None) as botocore resolves them."""
    session = botocore_session(files, profile)
    credentials = session.get_credentials()
    frozen = credentials.get_frozen_credentials() if credentials is not None else None
    return session.get_scoped_config(), (tuple(frozen)[:3] if frozen is not None else None)


def all_profiles_except(files: AwsFiles, profile: str) -> dict:
    """Everything botocore reads from both files, minus one profile (to check nothing else moved)."""
    session = botocore_session(files, profile)
    full = dict(session.full_config)
    full["profiles"] = {name: values for name, values in full["profiles"].items() if name != profile}
    return full


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
