"""Facts about the files AWS ships the Session Manager plugin in: names, paths inside, magic numbers.

One source for the installer's readers (:mod:`onboard.plugin.archives`) and the lab's writers
(:mod:`onboard.lab.bundles`), so that what one writes is what the other expects. Taken from AWS's
bundles (the deb's data.tar, the rpm's cpio payload, the macOS bundle zip, the Windows zip) and from the
rpm and ar file formats (rpm's lib/rpmtag.h, lib/header.c; ar(5)).
"""

from __future__ import annotations

PLUGIN_NAME = "session-manager-plugin"

#: Inside the macOS bundle zip.
MAC_BUNDLE_DIR = "sessionmanager-bundle"
MAC_BUNDLE_BINARY = f"{MAC_BUNDLE_DIR}/bin/{PLUGIN_NAME}"
#: Inside the deb's data.tar and the rpm's cpio payload (without the leading "./").
PACKAGE_PREFIX = "usr/local/sessionmanagerplugin"
PACKAGE_BINARY = f"{PACKAGE_PREFIX}/bin/{PLUGIN_NAME}"
#: The link the deb's postinst and the rpm's %posttrans make.
SYSTEM_LINK = f"/usr/local/bin/{PLUGIN_NAME}"
#: Inside the Windows zip: an inner package.zip holding the executable.
WINDOWS_INNER_ZIP = "package.zip"
WINDOWS_BINARY = f"bin/{PLUGIN_NAME}.exe"

#: Debian and RPM names for the architectures onboard supports (onboard.platform's names as keys).
DEB_ARCH = {"x86_64": "amd64", "arm64": "arm64"}
RPM_ARCH = {"x86_64": "x86_64", "arm64": "aarch64"}

#: The first bytes of an ar archive (a .deb).
AR_MAGIC = b"!<arch>\n"

#: An rpm starts with a 96-byte lead, then header structures that start with this magic.
RPM_LEAD_MAGIC = b"\xed\xab\xee\xdb"
RPM_LEAD_SIZE = 96
RPM_HEADER_MAGIC = b"\x8e\xad\xe8\x01\x00\x00\x00\x00"
#: The header tags that say how the payload is packed ("cpio") and compressed ("xz", "gzip", "zstd").
RPMTAG_PAYLOADFORMAT, RPMTAG_PAYLOADCOMPRESSOR = 1124, 1125
