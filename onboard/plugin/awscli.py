"""The AWS CLI: find it and judge it (v2, or v1 new enough for `aws ssm start-session`), explain how to
install it for each OS, and install AWS CLI v2 without root where AWS publishes a signed archive.

The Linux archive (``awscli-exe-linux-<arch>.zip``) and its detached ``.sig`` are verified against the
AWS CLI Team's key, embedded below with its fingerprint pinned, then AWS's own ``aws/install -i DIR -b
BINDIR`` puts it in the user's folders. The macOS pkg is checked with pkgutil and installed into the home
folder. The download base is overridable like the plugin's (mirrors, the practice lab, tests).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onboard.errors import EnvironmentProblem, UsageError
from onboard.fileio import swap_link
from onboard.paths import AppDirs
from onboard.platform import Platform
from onboard.plugin.download import DEFAULT_NETWORK, NetworkSettings

if TYPE_CHECKING:
    from onboard.pgp import PublicKey

OFFICIAL_BASE = "https://awscli.amazonaws.com/"
DOWNLOAD_URL_ENV = "ONBOARD_AWSCLI_DOWNLOAD_URL"
#: The first AWS CLI v1 with `aws ssm start-session`.
MINIMUM_V1 = "1.16.12"
_VERSION = re.compile(r"aws-cli/(\d+(?:\.\d+)+)")
_RUN_TIMEOUT = 60

#: The AWS CLI Team's signing key, as printed on AWS's page "Installing or updating to the latest version
#: of the AWS CLI" (RSA 4096, created 2019-09-18; this copy's self-signature runs to 2027-07-01).
AWS_CLI_KEY_FINGERPRINT = "FB5DB77FD5C118B80511ADA8A6310ACC4672475C"
AWS_CLI_PUBLIC_KEY = b"""\
-----BEGIN PGP PUBLIC KEY BLOCK-----

mQINBF2Cr7UBEADJZHcgusOJl7ENSyumXh85z0TRV0xJorM2B/JL0kHOyigQluUG
ZMLhENaG0bYatdrKP+3H91lvK050pXwnO/R7fB/FSTouki4ciIx5OuLlnJZIxSzx
PqGl0mkxImLNbGWoi6Lto0LYxqHN2iQtzlwTVmq9733zd3XfcXrZ3+LblHAgEt5G
TfNxEKJ8soPLyWmwDH6HWCnjZ/aIQRBTIQ05uVeEoYxSh6wOai7ss/KveoSNBbYz
gbdzoqI2Y8cgH2nbfgp3DSasaLZEdCSsIsK1u05CinE7k2qZ7KgKAUIcT/cR/grk
C6VwsnDU0OUCideXcQ8WeHutqvgZH1JgKDbznoIzeQHJD238GEu+eKhRHcz8/jeG
94zkcgJOz3KbZGYMiTh277Fvj9zzvZsbMBCedV1BTg3TqgvdX4bdkhf5cH+7NtWO
lrFj6UwAsGukBTAOxC0l/dnSmZhJ7Z1KmEWilro/gOrjtOxqRQutlIqG22TaqoPG
fYVN+en3Zwbt97kcgZDwqbuykNt64oZWc4XKCa3mprEGC3IbJTBFqglXmZ7l9ywG
EEUJYOlb2XrSuPWml39beWdKM8kzr1OjnlOm6+lpTRCBfo0wa9F8YZRhHPAkwKkX
XDeOGpWRj4ohOx0d2GWkyV5xyN14p2tQOCdOODmz80yUTgRpPVQUtOEhXQARAQAB
tCFBV1MgQ0xJIFRlYW0gPGF3cy1jbGlAYW1hem9uLmNvbT6JAlQEEwEIAD4CGwMF
CwkIBwIGFQoJCAsCBBYCAwECHgECF4AWIQT7Xbd/1cEYuAURraimMQrMRnJHXAUC
akV0ygUJDqP4lQAKCRCmMQrMRnJHXFHjD/9eyZLYcKuQOlLvtqSDtUBiEZf6ZZjM
i3ygYH8rJNtuToUH+HvSpe819urJCquXhDrlK6N+aqW0hCLtNABJG/vsafIgvIYJ
hSGgpgtNnQyMV1jViRWqPjbouw8OkYKBThUfT1i2Y+wn58ifs6ODBCmTexWtXspA
Si+Gt49xDOW0APmbOPnI+a4HJW6tVEo6MWS0WjzpiBayR3d1A4pt4YrPfSdDgpLo
h2SLQqlRqvvVZJaWBjhkErNFpfsBA06sDcPEOb0G8LBUbR4WOcdvhe5LubJbZuxC
AG9kNPCVeQP1ixwjgjXKysaxeQ6rv0VzIQgRp6tLVLWhy6AKDNvLjFSsmXZ1Wl08
Y/RlOHXlzLuQMRE6sR1wOdRxc9TsrNWTGiBK65cvSWOy03JeBkQQ8pesqltiyxI9
U21kkgiXtTSKNGfKK8pO27D81YANhRqPK7iTp6kuFiY2WtOg90KTMNlIT+Ff85Y2
b1rHj6Z0SrCkJujhWk3IBPic/wJgz01LEc/OAdUPlby90RJZcIBhSlWhT7mXnXIO
c0HWlNQrns2s3CTyYwZSiSlYe9ApeLwhjDo8NhbFuCAy61l6O5UsR4AfZxx/rGKv
2wFb1/RN/P4gNe6vmxZAPjR0AQcwD3tc2McimOLr/22kmPz8IH3I0X7WoSFr0Biz
E91G7bb0hOb/cA==
=knv7
-----END PGP PUBLIC KEY BLOCK-----
"""


@dataclass(frozen=True)
class AwsCli:
    """What ``aws --version`` says, and whether it can start Session Manager sessions."""

    path: Path | None
    version: str | None
    usable: bool
    #: One line for people: why it is (not) usable.
    reason: str

    @property
    def major(self) -> int | None:
        return int(self.version.split(".")[0]) if self.version else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path) if self.path else None,
            "version": self.version,
            "major": self.major,
            "usable": self.usable,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class AwsCliInstall:
    version: str
    #: The ``aws`` link in the bin folder.
    link: Path
    install_dir: Path
    verified_by: str
    signature_key: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "link": str(self.link),
            "install_dir": str(self.install_dir),
            "verified_by": self.verified_by,
            "signature_key": self.signature_key,
        }


def aws_cli_key() -> PublicKey:
    """The AWS CLI Team's key (onboard.pgp.PublicKey), refused if the embedded block lost its pin."""
    from onboard.pgp import pinned_key

    return pinned_key(AWS_CLI_PUBLIC_KEY, AWS_CLI_KEY_FINGERPRINT, source="onboard's copy of the AWS CLI key")


def detect_awscli(path_env: str | None = None) -> AwsCli:
    """The ``aws`` first on PATH, its version, and whether it can run `aws ssm start-session`."""
    found = shutil.which("aws", path=path_env)
    if found is None:
        return AwsCli(None, None, False, "no aws command on PATH")
    return judge_awscli(Path(found))


def judge_awscli(executable: Path) -> AwsCli:
    """Run ``<executable> --version`` and judge the answer."""
    from onboard.plugin.catalog import version_at_least
    from onboard.plugin.executable import last_words, run_version

    try:
        done = run_version(executable, _RUN_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        return AwsCli(executable, None, False, f"{executable} does not run: {error}")
    # AWS CLI v1 before 1.18 printed its version on stderr.
    match = _VERSION.search(done.stdout) or _VERSION.search(done.stderr)
    if match is None:
        return AwsCli(executable, None, False, f"{executable} --version failed: {last_words(done)}")
    version = match.group(1)
    if version.startswith("2."):
        return AwsCli(executable, version, True, f"AWS CLI v2 ({version})")
    if version.startswith("1.") and version_at_least(version, MINIMUM_V1):
        return AwsCli(executable, version, True, f"AWS CLI v1 {version}, new enough for ssm start-session")
    return AwsCli(
        executable,
        version,
        False,
        f"AWS CLI {version} is too old for `aws ssm start-session` (needs v2, or v1 {MINIMUM_V1} or newer)",
    )


def download_base(explicit: str | None = None) -> str:
    """``explicit``, else $ONBOARD_AWSCLI_DOWNLOAD_URL, else AWS's; always ending with "/"."""
    base = (explicit or os.environ.get(DOWNLOAD_URL_ENV, "").strip() or OFFICIAL_BASE).strip()
    return base if base.endswith("/") else base + "/"


def linux_archive_name(platform: Platform) -> str:
    return f"awscli-exe-linux-{'aarch64' if platform.arch == 'arm64' else 'x86_64'}.zip"


def explain_install(platform: Platform) -> str:
    """How to install AWS CLI v2 on this platform, step by step, for people who prefer to do it by hand."""
    if platform.os == "macos":
        return (
            "Install AWS CLI v2 for macOS:\n"
            f"  1. Download {OFFICIAL_BASE}AWSCLIV2.pkg\n"
            "  2. Check it: pkgutil --check-signature AWSCLIV2.pkg  (signed by Amazon.com Services LLC)\n"
            "  3. Install it: double-click it, or run: sudo installer -pkg AWSCLIV2.pkg -target /\n"
            "  4. Check: aws --version  (prints aws-cli/2...)\n"
            "Or let onboard install it into your home folder: onboard setup --aws-cli"
        )
    if platform.os == "windows":
        return (
            "Install AWS CLI v2 for Windows (needs administrator rights):\n"
            f"  msiexec.exe /i {OFFICIAL_BASE}AWSCLIV2.msi\n"
            "Then open a new terminal and check: aws --version  (prints aws-cli/2...)"
        )
    archive = linux_archive_name(platform)
    return (
        "Install AWS CLI v2 for Linux into your own folders (no root needed):\n"
        f'  curl -o awscliv2.zip "{OFFICIAL_BASE}{archive}"\n'
        f'  curl -o awscliv2.sig "{OFFICIAL_BASE}{archive}.sig"\n'
        "  gpg --verify awscliv2.sig awscliv2.zip   (key FB5D B77F D5C1 18B8 0511 ADA8 A631 0ACC 4672 475C)\n"
        "  unzip awscliv2.zip && ./aws/install -i ~/.local/aws-cli -b ~/.local/bin\n"
        "  aws --version  (prints aws-cli/2...)\n"
        "Or let onboard do all of it: onboard setup --aws-cli"
    )


def install_awscli(
    *,
    platform: Platform,
    download_url: str | None = None,
    bundle_file: Path | None = None,
    install_dir: Path | None = None,
    bin_dir: Path | None = None,
    extra_trusted_keys: Sequence[PublicKey] = (),
    progress: bool = True,
    network: NetworkSettings = DEFAULT_NETWORK,
) -> AwsCliInstall:
    """Install AWS CLI v2 into ``install_dir`` (default ``<data>/aws-cli``), linking ``aws`` in ``bin_dir``.

    Linux: the signed zip (``bundle_file`` with its ``.sig`` beside it, or downloaded), verified against
    the AWS CLI Team's key (and ``extra_trusted_keys``). macOS: the pkg, checked with pkgutil, installed
    for the current user. Windows: EnvironmentProblem with the manual steps (the MSI needs admin rights).
    """
    install_dir = Path(install_dir) if install_dir else AppDirs().data / "aws-cli"
    bin_dir = Path(bin_dir) if bin_dir else AppDirs().bin
    if platform.is_linux:
        return _install_linux(
            platform, download_url, bundle_file, install_dir, bin_dir, extra_trusted_keys, progress, network
        )
    if platform.os == "macos":
        return _install_macos(download_url, bundle_file, install_dir, bin_dir, progress, network)
    raise EnvironmentProblem(
        "onboard cannot install the AWS CLI on Windows by itself", explain_install(platform)
    )


def _install_linux(
    platform: Platform,
    download_url: str | None,
    bundle_file: Path | None,
    install_dir: Path,
    bin_dir: Path,
    extra_trusted_keys: Sequence[PublicKey],
    progress: bool,
    network: NetworkSettings,
) -> AwsCliInstall:
    from onboard.plugin.archives import extract_zip
    from onboard.plugin.fetch import download_signed, read_signature_file, verify_signature
    from onboard.plugin.layout import WorkFolder

    with WorkFolder("awscli-install-") as work:
        if bundle_file is not None:
            archive = Path(bundle_file)
            signature_file = Path(f"{archive}.sig")
            if not signature_file.is_file():
                raise UsageError(
                    f"{archive} has no signature file beside it ({signature_file.name})",
                    "Download the .sig published next to the zip (its URL + .sig) and put it beside the zip.",
                )
            signature = read_signature_file(signature_file)
            source = str(archive)
        else:
            source = download_base(download_url) + linux_archive_name(platform)
            archive = work / "awscliv2.zip"
            signature = download_signed(source, f"{source}.sig", archive, progress=progress, network=network)
        keys = [aws_cli_key(), *extra_trusted_keys]
        signer = verify_signature(archive, signature, keys, name=source)
        extract_zip(archive, work / "unpacked")
        script = work / "unpacked" / "aws" / "install"
        if not script.is_file():
            raise UsageError(f"{archive} holds no aws/install script", "Is it the AWS CLI v2 zip for Linux?")
        _run_installer([str(script), "-i", str(install_dir), "-b", str(bin_dir), "--update"], bin_dir)
        return _checked_result(bin_dir / "aws", install_dir, "gpg", signer)


def _install_macos(
    download_url: str | None,
    bundle_file: Path | None,
    install_dir: Path,
    bin_dir: Path,
    progress: bool,
    network: NetworkSettings,
) -> AwsCliInstall:
    from onboard.plugin.download import download
    from onboard.plugin.fetch import verify_pkg
    from onboard.plugin.layout import WorkFolder

    with WorkFolder("awscli-install-") as work:
        pkg = Path(bundle_file) if bundle_file else work / "AWSCLIV2.pkg"
        if bundle_file is None:
            download(download_base(download_url) + "AWSCLIV2.pkg", pkg, progress=progress, settings=network)
        signer = verify_pkg(pkg)
        # AWS's documented per-user install: a choices file moves the install into a folder the user owns.
        choices = work / "choices.xml"
        choices.write_text(_MAC_CHOICES.format(location=install_dir.parent), encoding="utf-8")
        _run_installer(
            [
                "installer",
                "-pkg",
                str(pkg),
                "-target",
                "CurrentUserHomeDirectory",
                "-applyChoiceChangesXML",
                str(choices),
            ],
            bin_dir,
        )
        bin_dir.mkdir(parents=True, exist_ok=True)
        link = bin_dir / "aws"
        swap_link(link, install_dir.parent / "aws-cli" / "aws")
        return _checked_result(link, install_dir.parent / "aws-cli", "pkgutil", signer)


_MAC_CHOICES = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
  <array>
    <dict>
      <key>choiceAttribute</key>
      <string>customLocation</string>
      <key>attributeSetting</key>
      <string>{location}</string>
      <key>choiceIdentifier</key>
      <string>default</string>
    </dict>
  </array>
</plist>
"""


def _run_installer(command: list[str], bin_dir: Path) -> None:
    try:
        bin_dir.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    except OSError as error:
        raise EnvironmentProblem(
            f"cannot run the AWS CLI installer ({command[0]}): {error.strerror or error}",
            "Check that your home folder is writable, or install the AWS CLI by hand (see the steps above).",
        ) from None
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip()[-400:] or "nothing"
        raise EnvironmentProblem(
            f"the AWS CLI installer failed with exit code {done.returncode}", f"It said: {said}"
        )


def _checked_result(link: Path, install_dir: Path, verified_by: str, signer: str) -> AwsCliInstall:
    """Trust the result only once the new ``aws`` runs and is v2."""
    found = judge_awscli(link)
    if not found.usable or found.major != 2:
        raise EnvironmentProblem(
            f"the AWS CLI installer finished, but {link} does not work: {found.reason}",
            "Install it by hand (onboard setup explains how), then run `aws --version`.",
        )
    return AwsCliInstall(found.version or "", link, install_dir, verified_by, signer)
