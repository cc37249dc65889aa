"""The fault table: each fault induced for real, named by `onboard doctor` with the right next step, and each
fix that exists shown to work (the check passes afterwards, and a backup of what was changed exists).

Faults in the test's home: broken ~/.aws files, environment variables, stand-in plugin and aws executables
(one built for another processor, one too old, shadowed and stale copies), unreachable endpoints and
proxies, and an STS stand-in answering what moto cannot (a bad signature, an expired token, a skewed clock).
Faults in the practice lab: the lab's own `lab fault` set.
"""

# ruff: noqa: F811 - pytest fixtures are imported by name and then requested as parameters

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from bundles import (  # noqa: F401
    GOOD_VERSION,
    OLD_VERSION,
    blocking_proxy,
    bundle_server,
    plugin_site,
    stand_in_awscli,
    stand_in_plugin,
    test_signing_key,
)
from fixtures_doctor import (
    backups_of,
    finding,
    foreign_elf,
    lab_profile,
    mode_of,
    mute_port,  # noqa: F401
    plain_profile,
    put_executable,
    run_checks_for,
    text_of,
    tool_path,  # noqa: F401
    write_aws,
    write_team,
)
from fixtures_lab import lab, lab_server  # noqa: F401
from fixtures_moto import aws_like_server, closed_port  # noqa: F401

from onboard.doctor import Status

PROFILE = "[profile ssm]\nregion = ap-northeast-1\n"
SECRET = "doctorSecretExample000000000000"
KEYS = f"[ssm]\naws_access_key_id = AKIAEXAMPLEDOCTOR001\naws_secret_access_key = {SECRET}\n"


@dataclass
class Fault:
    name: str
    check: str
    status: Status
    says: tuple[str, ...]
    induce: Callable[[Fixtures], None]
    #: The next step must mention each of these.
    next_says: tuple[str, ...] = ()
    #: After --fix: the check's status, and what else must be true (given the fixtures).
    fixed_status: Status | None = None
    after_fix: Callable[[Fixtures], None] | None = None
    options: dict[str, object] = field(default_factory=dict)


@dataclass
class Fixtures:
    home: Path
    tmp: Path
    env: pytest.MonkeyPatch
    request: pytest.FixtureRequest
    options: dict[str, object] = field(default_factory=dict)

    def get(self, name: str):
        return self.request.getfixturevalue(name)

    @property
    def config(self) -> Path:
        return self.home / ".aws" / "config"

    @property
    def credentials(self) -> Path:
        return self.home / ".aws" / "credentials"

    def plugin_team(self) -> Path:
        """A team file naming the local signed download site, so the reinstall fix can run offline."""
        site = self.get("plugin_site")
        key = self.get("test_signing_key")
        key_file = self.tmp / "team-key.asc"
        key_file.write_bytes(key.public_key_armored())
        team = write_team(
            self.tmp,
            plugin=f'download_url = "{site.base}"\nsigning_key = "{key_file.name}"\n'
            f'signing_key_fingerprint = "{key.fingerprint}"',
        )
        self.options["team"] = str(team)
        return team

    def install_plugin(self) -> Path:
        """Install the plugin for real, from the local signed site, as `onboard plugin install` does."""
        from onboard.platform import detect
        from onboard.plugin.install import install_plugin
        from onboard.team import load_team

        team = load_team(self.plugin_team())
        result = install_plugin(
            platform=detect(),
            download_url=team.plugin.download_url,
            extra_trusted_keys=team.plugin.trusted_keys(),
            progress=False,
        )
        return result.link


def botocore_reads(path: Path) -> dict:
    from botocore.configloader import raw_config_parse

    return raw_config_parse(str(path))


# --- inducing each fault ----------------------------------------------------------------------------------


def bom(f: Fixtures) -> None:
    write_aws(f.home, b"\xef\xbb\xbf" + PROFILE.encode(), KEYS)


def bom_fixed(f: Fixtures) -> None:
    assert not f.config.read_bytes().startswith(b"\xef\xbb\xbf")
    assert botocore_reads(f.config)["profile ssm"]["region"] == "ap-northeast-1"
    assert backups_of(f.config)[0].read_bytes().startswith(b"\xef\xbb\xbf")


def duplicate_section(f: Fixtures) -> None:
    write_aws(
        f.home,
        PROFILE,
        "[ssm]\naws_access_key_id = AKIAEXAMPLEDOCTOR001\n\n# kept\n[other]\nx = 1\n\n"
        f"[ssm]\naws_secret_access_key = {SECRET}\n",
    )


def duplicate_merged(f: Fixtures) -> None:
    sections = botocore_reads(f.credentials)
    assert sections["ssm"] == {"aws_access_key_id": "AKIAEXAMPLEDOCTOR001", "aws_secret_access_key": SECRET}
    assert sections["other"] == {"x": "1"}
    assert "# kept" in f.credentials.read_text()
    assert backups_of(f.credentials)


def region_in_credentials(f: Fixtures) -> None:
    write_aws(f.home, "[profile ssm]\noutput = json\n", KEYS + "region = ap-northeast-1\n")


def region_moved(f: Fixtures) -> None:
    assert botocore_reads(f.config)["profile ssm"]["region"] == "ap-northeast-1"
    assert "region" not in botocore_reads(f.credentials)["ssm"]
    assert backups_of(f.credentials)


def loose_permissions(f: Fixtures) -> None:
    write_aws(f.home, PROFILE, KEYS)
    f.credentials.chmod(0o644)


def tightened(f: Fixtures) -> None:
    assert mode_of(f.credentials) == 0o600
    assert backups_of(f.credentials)


def files_with(config: str | bytes | None, credentials: str | bytes | None):
    return lambda f: write_aws(f.home, config, credentials)


def env_with(config: str, credentials: str, **variables: str):
    def induce(f: Fixtures) -> None:
        write_aws(f.home, config, credentials)
        for name, value in variables.items():
            f.env.setenv(name, value)

    return induce


def missing_config_file(f: Fixtures) -> None:
    write_aws(f.home, None, KEYS)
    f.env.setenv("AWS_CONFIG_FILE", str(f.tmp / "nowhere" / "config"))


def plugin_copy(content: bytes, folder: str = ".local/bin"):
    def induce(f: Fixtures) -> None:
        f.get("tool_path")
        write_aws(f.home, PROFILE, KEYS)
        put_executable(f.home / folder, "session-manager-plugin", content)
        f.plugin_team()

    return induce


def reinstalled(f: Fixtures) -> None:
    link = f.home / ".local" / "bin" / "session-manager-plugin"
    version = subprocess.run([str(link), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.strip() == GOOD_VERSION
    # The copy that was in the way is kept, as `onboard plugin uninstall` puts it back.
    assert (link.parent / "session-manager-plugin.before-onboard").is_file()


def no_plugin(f: Fixtures) -> None:
    f.get("tool_path")
    write_aws(f.home, PROFILE, KEYS)


def shadowed_plugin(f: Fixtures) -> None:
    f.get("tool_path")
    write_aws(f.home, PROFILE, KEYS)
    (f.home / ".bashrc").write_text("alias ll='ls -l'\n")
    f.install_plugin()
    early = f.tmp / "early-bin"
    put_executable(early, "session-manager-plugin", stand_in_plugin(GOOD_VERSION, marker="someone else's"))
    f.env.setenv("PATH", f"{early}{os.pathsep}{os.environ['PATH']}")


def path_line_added(f: Fixtures) -> None:
    bashrc = f.home / ".bashrc"
    assert "alias ll='ls -l'" in bashrc.read_text()
    assert backups_of(bashrc)
    # A new terminal: bash reads ~/.bashrc and finds onboard's link first.
    found = subprocess.run(
        ["bash", "-c", "source ~/.bashrc; command -v session-manager-plugin"],
        capture_output=True,
        text=True,
        env={**os.environ},
        check=True,
    ).stdout.strip()
    assert found == str(f.home / ".local" / "bin" / "session-manager-plugin")


def stale_copy(f: Fixtures) -> None:
    f.get("tool_path")
    write_aws(f.home, PROFILE, KEYS)
    put_executable(f.home / ".local" / "bin", "session-manager-plugin", stand_in_plugin(GOOD_VERSION))
    late = f.tmp / "late-bin"
    put_executable(late, "session-manager-plugin", stand_in_plugin(OLD_VERSION))
    f.env.setenv("PATH", f"{os.environ['PATH']}{os.pathsep}{late}")


def broken_link(f: Fixtures) -> None:
    f.get("tool_path")
    write_aws(f.home, PROFILE, KEYS)
    f.install_plugin().unlink()


def relinked(f: Fixtures) -> None:
    link = f.home / ".local" / "bin" / "session-manager-plugin"
    assert link.is_symlink() and link.resolve().is_file()


def aws_on_path(content: bytes | None):
    def induce(f: Fixtures) -> None:
        write_aws(f.home, PROFILE, KEYS)
        bin_dir = f.tmp / "only-bin"
        bin_dir.mkdir()
        if content is not None:
            put_executable(bin_dir, "aws", content)
        f.env.setenv("PATH", os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"]))

    return induce


def endpoint(kind: str):
    def induce(f: Fixtures) -> None:
        port = f.get("mute_port") if kind == "mute" else closed_port()
        plain_profile(f.home, f"http://127.0.0.1:{port}")

    return induce


def sts_answers(status: int, code: str, offset: timedelta = timedelta(0)):
    def induce(f: Fixtures) -> None:
        server = f.get("aws_like_server")
        server.answer.status = status
        server.answer.code = code
        server.answer.message = "as AWS says it"
        server.answer.clock_offset = offset
        plain_profile(f.home, server.url)

    return induce


MISSPELLED_KEYS = f"[ssm]\naws_access_key_id = AKIAEXAMPLEDOCTOR001\naws_secret_acess_key = {SECRET}\n"


def misspelled_secret_key(f: Fixtures) -> None:
    write_aws(f.home, PROFILE, MISSPELLED_KEYS)


def assert_key_id_spelled_right(f: Fixtures) -> None:
    assert botocore_reads(f.credentials)["ssm"]["aws_access_key_id"] == "AKIAEXAMPLEDOCTOR001"
    assert backups_of(f.credentials)


def secret_key_spelled_right(f: Fixtures) -> None:
    assert botocore_reads(f.credentials)["ssm"]["aws_secret_access_key"] == SECRET
    assert "aws_secret_acess_key" not in f.credentials.read_text()
    assert mode_of(f.credentials) == 0o600
    assert backups_of(f.credentials)


ROLE_PROFILE = (
    "[profile ssm]\nregion = ap-northeast-1\nrole_arn = arn:aws:iam::123456789012:role/learner\n"
    "source_profile = base\n[profile base]\nregion = ap-northeast-1\n"
)


def misspelled_source_profile_key(f: Fixtures) -> None:
    write_aws(f.home, ROLE_PROFILE, MISSPELLED_KEYS.replace("[ssm]", "[base]"))


def source_secret_spelled_right(f: Fixtures) -> None:
    assert botocore_reads(f.credentials)["base"]["aws_secret_access_key"] == SECRET
    assert "aws_secret_acess_key" not in f.credentials.read_text()
    assert "role_arn" in botocore_reads(f.config)["profile ssm"]  # the role profile left as it was
    assert backups_of(f.credentials)


def yaml_output_with_cli_v1(f: Fixtures) -> None:
    f.get("tool_path")  # the venv's aws: the real AWS CLI v1, which has no yaml formatter
    write_aws(f.home, PROFILE + "output = yaml\n", KEYS)


def output_is_json(f: Fixtures) -> None:
    assert botocore_reads(f.config)["profile ssm"]["output"] == "json"
    # The real AWS CLI reads it back from the file.
    shown = subprocess.run(
        ["aws", "configure", "get", "output", "--profile", "ssm"], capture_output=True, text=True, check=True
    ).stdout
    assert shown.strip() == "json"
    assert backups_of(f.config)


FAULTS = [
    Fault(
        "output-the-cli-cannot-print",
        "config.output",
        Status.FAIL,
        ("output = yaml", "AWS CLI v1", "Unknown output type: yaml"),
        yaml_output_with_cli_v1,
        next_says=("aws configure set output json --profile ssm",),
        fixed_status=Status.OK,
        after_fix=output_is_json,
    ),
    Fault(
        "misspelled-key-id-name",
        "config.profile",
        Status.FAIL,
        ("no access keys", "`aws_access_keyid`", "aws_access_key_id", "line 2"),
        files_with(PROFILE, KEYS.replace("aws_access_key_id", "aws_access_keyid")),
        next_says=("rename",),
        fixed_status=Status.OK,
        after_fix=assert_key_id_spelled_right,
    ),
    Fault(
        "misspelled-key-name",
        "config.profile",
        Status.FAIL,
        ("aws_secret_acess_key", "aws_secret_access_key", "line 3"),
        misspelled_secret_key,
        next_says=("aws_secret_access_key",),
        fixed_status=Status.OK,
        after_fix=secret_key_spelled_right,
    ),
    Fault(
        "misspelled-key-name-in-the-source-profile",
        "config.profile",
        Status.FAIL,
        ("source profile 'base'", "role_arn", "aws_secret_acess_key", "[base]", "line 3"),
        misspelled_source_profile_key,
        next_says=("aws_secret_access_key",),
        fixed_status=Status.OK,
        after_fix=source_secret_spelled_right,
    ),
    Fault(
        "source-profile-without-a-secret",
        "config.profile",
        Status.FAIL,
        ("source profile 'base'", "no aws_secret_access_key"),
        files_with(ROLE_PROFILE, "[base]\naws_access_key_id = AKIAEXAMPLEDOCTOR001\n"),
        next_says=("--profile base",),
    ),
    Fault(
        "bom",
        "config.parse",
        Status.FAIL,
        ("byte-order mark", "ConfigParseError"),
        bom,
        fixed_status=Status.OK,
        after_fix=bom_fixed,
    ),
    Fault(
        "duplicate-section",
        "config.parse",
        Status.FAIL,
        ("a second [ssm] section",),
        duplicate_section,
        next_says=("Merge",),
        fixed_status=Status.OK,
        after_fix=duplicate_merged,
    ),
    Fault(
        "inline-comment",
        "config.traps",
        Status.WARN,
        ("comment on the same line",),
        files_with("[profile ssm]\nregion = ap-northeast-1 # Tokyo\n", KEYS),
        next_says=("line of its own",),
    ),
    Fault(
        "region-in-credentials",
        "config.traps",
        Status.WARN,
        ("region in [ssm] of the credentials file",),
        region_in_credentials,
        next_says=("Move it",),
        fixed_status=Status.OK,
        after_fix=region_moved,
    ),
    Fault(
        "loose-permissions",
        "config.permissions",
        Status.WARN,
        ("can be read by other users",),
        loose_permissions,
        next_says=("chmod 600",),
        fixed_status=Status.OK,
        after_fix=tightened,
    ),
    Fault(
        "profile-missing",
        "config.profile",
        Status.FAIL,
        ("'ssm' is in neither AWS file",),
        files_with("[profile other]\nregion = eu-west-1\n", None),
        next_says=("onboard setup",),
    ),
    Fault(
        "profile-wrong-form",
        "config.traps",
        Status.WARN,
        ("[ssm] in the config file is not a profile",),
        files_with("[ssm]\nregion = ap-northeast-1\n", KEYS),
        next_says=("[profile ssm]",),
    ),
    Fault(
        "no-region",
        "config.profile",
        Status.FAIL,
        ("no region", "You must specify a region"),
        files_with("[profile ssm]\noutput = json\n", KEYS),
        next_says=("aws configure set region",),
    ),
    Fault(
        "keys-in-both-files",
        "config.profile",
        Status.WARN,
        ("access keys in both files",),
        files_with(PROFILE + "aws_access_key_id = AKIAOTHERKEY00000001\naws_secret_access_key = x\n", KEYS),
        next_says=("delete aws_access_key_id",),
    ),
    Fault(
        "aws-profile-missing",
        "config.environment",
        Status.FAIL,
        ("AWS_PROFILE=nosuch", "could not be found"),
        env_with(PROFILE, KEYS, AWS_PROFILE="nosuch"),
        next_says=("unset AWS_PROFILE",),
    ),
    Fault(
        "env-keys",
        "config.environment",
        Status.WARN,
        ("AWS_ACCESS_KEY_ID", "without --profile"),
        env_with(
            PROFILE, KEYS, AWS_ACCESS_KEY_ID="AKIAENVKEY0000000001", AWS_SECRET_ACCESS_KEY=SECRET + "env"
        ),
        next_says=("unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY",),
    ),
    Fault(
        "env-region",
        "config.environment",
        Status.WARN,
        ("AWS_DEFAULT_REGION=us-east-1 overrides",),
        env_with(PROFILE, KEYS, AWS_DEFAULT_REGION="us-east-1"),
        next_says=("unset AWS_DEFAULT_REGION",),
    ),
    Fault(
        "no-aws-files",
        "config.files",
        Status.FAIL,
        ("neither AWS file exists",),
        files_with(None, None),
        next_says=("onboard setup",),
    ),
    Fault(
        "config-variable-names-nothing",
        "config.files",
        Status.WARN,
        ("AWS_CONFIG_FILE names",),
        missing_config_file,
    ),
    Fault(
        "plugin-missing",
        "tools.plugin",
        Status.FAIL,
        ("SessionManagerPlugin is not found",),
        no_plugin,
        next_says=("onboard plugin install",),
    ),
    Fault(
        "plugin-wrong-architecture",
        "tools.plugin",
        Status.FAIL,
        ("exec format error", "ELF 64-bit"),
        plugin_copy(foreign_elf()),
        next_says=("onboard plugin install",),
        fixed_status=Status.OK,
        after_fix=reinstalled,
    ),
    Fault(
        "plugin-too-old",
        "tools.plugin",
        Status.FAIL,
        (f"{OLD_VERSION}, older than 1.2.764.0",),
        plugin_copy(stand_in_plugin(OLD_VERSION)),
        fixed_status=Status.OK,
        after_fix=reinstalled,
    ),
    Fault(
        "plugin-shadowed",
        "tools.plugin-path",
        Status.WARN,
        ("early-bin/session-manager-plugin",),
        shadowed_plugin,
        next_says=("~/.bashrc",),
        fixed_status=Status.WARN,
        after_fix=path_line_added,
    ),
    Fault(
        "plugin-stale-copy",
        "tools.plugin-path",
        Status.WARN,
        ("stale copies", OLD_VERSION),
        stale_copy,
        next_says=("rm ",),
    ),
    Fault(
        "plugin-link-broken",
        "tools.plugin",
        Status.FAIL,
        ("link", "missing"),
        broken_link,
        fixed_status=Status.OK,
        after_fix=relinked,
    ),
    Fault(
        "aws-missing",
        "tools.aws-cli",
        Status.FAIL,
        ("not on PATH",),
        aws_on_path(None),
        next_says=("onboard setup --aws-cli",),
    ),
    Fault(
        "aws-too-old",
        "tools.aws-cli",
        Status.FAIL,
        ("1.15.0 is too old",),
        aws_on_path(stand_in_awscli("1.15.0")),
        next_says=("onboard setup --aws-cli",),
    ),
    Fault(
        "endpoint-refused",
        "network.endpoints",
        Status.FAIL,
        ("connect",),
        endpoint("refused"),
        next_says=("onboard lab up",),
    ),
    Fault(
        "endpoint-never-answers", "network.endpoints", Status.FAIL, ("no answer within",), endpoint("mute")
    ),
    Fault(
        "proxy-unreachable",
        "network.proxy",
        Status.FAIL,
        ("does not accept",),
        lambda f: (
            write_aws(f.home, PROFILE, KEYS),
            f.env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed_port()}"),
        ),
        next_says=("unset HTTPS_PROXY",),
    ),
    Fault(
        "ca-bundle-missing",
        "network.ca-bundle",
        Status.FAIL,
        ("does not exist",),
        lambda f: (
            write_aws(f.home, PROFILE, KEYS),
            f.env.setenv("AWS_CA_BUNDLE", str(f.tmp / "company.pem")),
        ),
        next_says=("AWS_CA_BUNDLE",),
    ),
    Fault(
        "signature-does-not-match",
        "credentials.identity",
        Status.FAIL,
        ("(SignatureDoesNotMatch)",),
        sts_answers(403, "SignatureDoesNotMatch"),
        next_says=("--credentials-csv",),
    ),
    Fault(
        "expired-token",
        "credentials.identity",
        Status.FAIL,
        ("has expired (ExpiredToken)",),
        sts_answers(403, "ExpiredToken"),
    ),
    Fault(
        "clock-skew",
        "credentials.clock",
        Status.FAIL,
        ("10 minutes behind",),
        sts_answers(200, "", timedelta(minutes=10)),
        next_says=("timedatectl",),
    ),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_doctor_names_the_fault_and_its_fix(fault, isolated_home, tmp_path, monkeypatch, request):
    fixtures = Fixtures(isolated_home, tmp_path, monkeypatch, request)
    fault.induce(fixtures)
    options = {**fixtures.options, **fault.options}
    report = run_checks_for(fault.check, **options)
    found = next(f for f in report.findings if f.check_id == fault.check)
    shown = text_of(found)
    assert found.status is fault.status, shown
    for words in fault.says:
        assert words in shown, shown
    for words in fault.next_says:
        assert words in (found.next or ""), found.next
    assert SECRET not in shown
    if fault.fixed_status is None:
        return
    assert found.fix is not None, f"{fault.name} should offer a fix"
    fixed = run_checks_for(fault.check, fix=True, **options)
    assert [fix.outcome for fix in fixed.fixes][:1] == ["applied"], fixed.fixes
    after = next(f for f in fixed.findings if f.check_id == fault.check)
    assert after.status is fault.fixed_status, text_of(after)
    assert all(Path(backup).exists() for fix in fixed.fixes for backup in fix.backups)
    assert fault.after_fix is not None
    fault.after_fix(fixtures)


@pytest.mark.parametrize("keys", [MISSPELLED_KEYS, KEYS.replace("aws_secret_access_key", "secret_key")])
def test_a_key_name_botocore_does_not_know_is_a_finding_in_every_check_never_a_bug(
    keys, isolated_home, tool_path
):
    write_aws(isolated_home, PROFILE, keys)
    report = run_checks_for("config", "credentials")
    shown = "\n".join(text_of(found) for found in report.findings)
    assert "bug in onboard" not in shown
    assert Status.ERROR not in {found.status for found in report.findings}, shown
    profile = next(f for f in report.findings if f.check_id == "config.profile")
    assert profile.status is Status.FAIL
    assert "no aws_secret_access_key" in profile.summary
    assert SECRET not in shown


def test_a_role_whose_source_profile_has_wrong_keys_is_a_finding_never_a_bug(lab, isolated_home, monkeypatch):
    monkeypatch.setenv("ONBOARD_TEAM", str(lab.team_file))
    write_aws(
        isolated_home,
        f"[profile ssm]\nregion = {lab.region}\nendpoint_url = {lab.endpoint_url}\n"
        f"role_arn = arn:aws:iam::{lab.account}:role/learner\nsource_profile = base\n"
        f"[profile base]\nregion = {lab.region}\nendpoint_url = {lab.endpoint_url}\n",
        f"[base]\naws_access_key_id = AKIAEXAMPLEDOCTOR001\naws_secret_access_key = {SECRET}\n",
    )
    report = run_checks_for("config", "credentials")
    shown = "\n".join(text_of(found) for found in report.findings)
    assert "bug in onboard" not in shown
    assert Status.ERROR not in {found.status for found in report.findings}, shown
    identity = next(f for f in report.findings if f.check_id == "credentials.identity")
    assert identity.status is Status.FAIL
    assert "source profile 'base'" in identity.summary, identity.summary
    assert "AssumeRole" in text_of(identity)
    assert "onboard setup --profile base" in (identity.next or "")
    assert identity.data["code"] == "InvalidClientTokenId"
    assert SECRET not in shown


def test_a_proxy_that_answers_for_the_endpoint_itself_is_a_finding_never_a_bug(
    isolated_home, aws_like_server, blocking_proxy, monkeypatch
):
    # A plain-HTTP endpoint (the practice lab) reached through HTTP_PROXY: the proxy's own refusal page is
    # no AWS answer, and says nothing about the keys.
    aws_like_server.answer.status, aws_like_server.answer.code = 200, ""
    plain_profile(isolated_home, aws_like_server.url)
    assert finding(run_checks_for("credentials.identity"), "credentials.identity").status is Status.OK
    monkeypatch.setenv("HTTP_PROXY", blocking_proxy)
    report = run_checks_for("config", "credentials")
    shown = "\n".join(text_of(found) for found in report.findings)
    assert "bug in onboard" not in shown, shown
    assert Status.ERROR not in {found.status for found in report.findings}, shown
    identity = finding(report, "credentials.identity")
    assert identity.status is Status.FAIL
    assert f"the proxy {blocking_proxy} answered" in identity.summary, identity.summary
    assert "NO_PROXY" in (identity.next or "")
    assert identity.data["failure"] == "not-aws"


def test_checks_that_ask_for_a_role_profiles_keys_at_once_load_them_once(isolated_home, monkeypatch):
    """botocore's assume-role provider may load only once per session (a second load sees the source
    profile as already visited: InfiniteLoopConfigError); doctor's checks run in threads, so share one."""
    import time

    import botocore.credentials

    original = botocore.credentials.AssumeRoleProvider.load
    loads = []

    def slow_load(self):  # widens the window in which a second thread would start its own load
        loads.append(self)
        time.sleep(0.3)
        return original(self)

    monkeypatch.setattr(botocore.credentials.AssumeRoleProvider, "load", slow_load)
    write_aws(
        isolated_home,
        "[profile ssm]\nregion = ap-northeast-1\nrole_arn = arn:aws:iam::123456789012:role/learner\n"
        "source_profile = base\n[profile base]\nregion = ap-northeast-1\n",
        f"[base]\naws_access_key_id = AKIAEXAMPLEDOCTOR001\naws_secret_access_key = {SECRET}\n",
    )
    report = run_checks_for("config", "credentials")
    shown = "\n".join(text_of(found) for found in report.findings)
    assert Status.ERROR not in {found.status for found in report.findings}, shown
    profile = next(f for f in report.findings if f.check_id == "config.profile")
    assert profile.summary.startswith("profile 'ssm': keys from assume-role"), shown
    assert len(loads) == 1, f"the role's keys were loaded {len(loads)} times at once (botocore allows one)"


def test_in_a_lab_shell_the_fixes_leave_the_real_startup_files_alone(
    lab, isolated_home, tmp_path, monkeypatch
):
    # A lab shell (`onboard lab shell`, or `eval "$(onboard lab env)"`) whose PATH lost the lab's bin folder:
    # the fix for the PATH must not append the lab's sandbox folder to the real ~/.bashrc.
    from onboard.lab.control import environment
    from onboard.platform import detect
    from onboard.plugin.install import install_plugin
    from onboard.team import load_team

    lab_env = environment(lab.paths, lab.state)
    for name, value in lab_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SHELL", "/bin/bash")
    bashrc = isolated_home / ".bashrc"
    bashrc.write_text("alias ll='ls -l'\n")
    lab_profile(lab.paths.sandbox_home, lab, "alice")
    team = load_team(lab.team_file)
    install_plugin(
        platform=detect(),
        download_url=team.plugin.download_url,
        extra_trusted_keys=team.plugin.trusted_keys(),
        progress=False,
    )
    assert (lab.paths.bin_dir / "session-manager-plugin").is_symlink()
    # The plugin versions themselves went into the sandbox's data folder, not the user's.
    assert (lab.paths.sandbox_home / ".local" / "share" / "onboard" / "plugin").is_dir()
    assert not (isolated_home / ".local" / "share" / "onboard").exists()
    without_lab_bin = [
        folder for folder in os.environ["PATH"].split(os.pathsep) if folder != str(lab.paths.bin_dir)
    ]
    monkeypatch.setenv("PATH", os.pathsep.join(without_lab_bin))

    report = run_checks_for("tools", fix=True)
    found = next(f for f in report.findings if f.check_id == "tools.plugin")
    assert found.status is Status.FAIL, text_of(found)
    assert 'eval "$(onboard lab env)"' in (found.next or "")
    assert found.fix is None
    assert bashrc.read_text() == "alias ll='ls -l'\n"
    assert not backups_of(bashrc)
    assert not [fix for fix in report.fixes if fix.fix_id == "plugin.path-line"]


# --- the practice lab's faults -----------------------------------------------------------------------------


LAB_FAULTS = [
    (
        "agent-offline",
        "jupyter",
        "alice",
        "targets.jupyter",
        ("TargetNotConnected", "ConnectionLost", "agent is stopped"),
        ("restart",),
    ),
    (
        "role-without-ssm-policy",
        "jupyter",
        "trainer",
        "targets.jupyter",
        ("TargetNotConnected", "jupyter-ssm-role lacks the SSM policy"),
        ("aws iam attach-role-policy --role-name jupyter-ssm-role", "AmazonSSMManagedInstanceCore"),
    ),
    (
        "key-deactivated",
        "alice",
        "alice",
        "credentials.identity",
        ("deactivated", "(InvalidClientTokenId)"),
        ("create a new key",),
    ),
    (
        "clock-skew",
        "alice",
        "alice",
        "credentials.identity",
        ("clock is wrong", "20 minutes behind AWS's clock", "(SignatureDoesNotMatch)"),
        ("timedatectl",),
    ),
    (
        "no-start-session",
        "alice",
        "alice",
        "permissions.start-session",
        ("may not start sessions", "ssm:StartSession"),
        ("allow ssm:StartSession",),
    ),
    (
        "bucket-missing",
        None,
        "alice",
        "permissions.transfer-bucket",
        ("does not exist", "NoSuchBucket"),
        ("tell your trainer",),
    ),
]


@pytest.mark.parametrize(
    ("fault", "target", "user", "check", "says", "next_says"), LAB_FAULTS, ids=[row[0] for row in LAB_FAULTS]
)
def test_doctor_names_the_labs_faults(
    fault, target, user, check, says, next_says, lab, isolated_home, monkeypatch
):
    user = lab.trainer if user == "trainer" else user
    lab_profile(isolated_home, lab, user)
    monkeypatch.setenv("ONBOARD_TEAM", str(lab.team_file))
    healthy = run_checks_for(check)
    assert next(f for f in healthy.findings if f.check_id == check).status is Status.OK

    lab.fault(fault, target)
    report = run_checks_for(check)
    found = next(f for f in report.findings if f.check_id == check)
    shown = text_of(found)
    assert found.status is Status.FAIL, shown
    for words in says:
        assert words in shown, shown
    for words in next_says:
        assert words in (found.next or ""), found.next
    assert lab.keys(user)[1].reveal() not in shown


def test_with_keys_that_may_read_iam_the_agent_is_told_apart_from_the_role(lab, isolated_home, monkeypatch):
    lab_profile(isolated_home, lab, lab.trainer)
    monkeypatch.setenv("ONBOARD_TEAM", str(lab.team_file))
    lab.fault("agent-offline", "airflow")
    report = run_checks_for("targets.airflow", "credentials.key-age")
    found = next(f for f in report.findings if f.check_id == "targets.airflow")
    assert found.status is Status.FAIL
    assert found.data["cause"] == "agent-stopped"
    assert "role airflow-ssm-role: policies policy-for-ec2-server" in text_of(found)
    assert "allow every action the agent needs" in text_of(found)
    assert "systemctl restart amazon-ssm-agent" in (found.next or "")
    # The trainer may list access keys, so the key's age is read and shown.
    age = next(f for f in report.findings if f.check_id == "credentials.key-age")
    assert age.status is Status.OK, text_of(age)
    assert "days old" in age.summary and ": Active, created" in text_of(age)
