"""Session Manager's preferences: the account's ``SSM-SessionManagerRunShell`` document, read and written.

AWS keeps the account-wide session preferences (the console's "Preferences" page) in a Session document
named SSM-SessionManagerRunShell in each region (AWS Systems Manager User Guide, "Create a Session
Manager preferences document"): ``inputs`` holds ``s3BucketName``, ``s3KeyPrefix``, ``s3EncryptionEnabled``,
``cloudWatch*``, ``kmsKeyId``, ``runAsEnabled``, ``runAsDefaultUser``, ``idleSessionTimeout`` (minutes,
1 to 60, default 20), ``maxSessionDuration`` (minutes, 1 to 1440) and ``shellProfile``. The trainer's
check-account reads it and writes the team's version; the practice lab drives its own logging, idle timeout
and Run As from the same document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DOCUMENT_NAME = "SSM-SessionManagerRunShell"
DEFAULT_IDLE_MINUTES = 20
#: The IAM tag naming the OS user a principal's sessions run as, when Run As is enabled.
RUN_AS_TAG = "SSMSessionRunAs"


@dataclass(frozen=True)
class SessionPreferences:
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_encryption: bool = False
    idle_minutes: int = DEFAULT_IDLE_MINUTES
    #: None: no limit beyond the service's own.
    max_session_minutes: int | None = None
    run_as_enabled: bool = False
    run_as_default_user: str = ""

    @property
    def logs_to_s3(self) -> bool:
        return bool(self.s3_bucket)

    def log_prefix(self) -> str:
        """The key prefix as the agent uses it: ``<prefix>/`` (AWS joins the prefix and the key with '/')."""
        prefix = self.s3_prefix.strip("/")
        return f"{prefix}/" if prefix else ""

    def content(self) -> dict[str, Any]:
        """The document's content, as AWS's console writes it."""
        return {
            "schemaVersion": "1.0",
            "description": "Document to hold regional settings for Session Manager",
            "sessionType": "Standard_Stream",
            "inputs": {
                "s3BucketName": self.s3_bucket,
                "s3KeyPrefix": self.s3_prefix.strip("/"),
                "s3EncryptionEnabled": self.s3_encryption,
                "cloudWatchLogGroupName": "",
                "cloudWatchEncryptionEnabled": True,
                "cloudWatchStreamingEnabled": False,
                "kmsKeyId": "",
                "runAsEnabled": self.run_as_enabled,
                "runAsDefaultUser": self.run_as_default_user,
                "idleSessionTimeout": str(self.idle_minutes),
                "maxSessionDuration": str(self.max_session_minutes or ""),
                "shellProfile": {"windows": "", "linux": ""},
            },
        }


def parse_preferences(content: str | dict[str, Any]) -> SessionPreferences:
    """The preferences in a document's content (JSON text or parsed); lenient as the agent is."""
    data = json.loads(content) if isinstance(content, str) else content
    inputs = data.get("inputs", {}) if isinstance(data, dict) else {}
    return SessionPreferences(
        s3_bucket=str(inputs.get("s3BucketName") or ""),
        s3_prefix=str(inputs.get("s3KeyPrefix") or ""),
        s3_encryption=_flag(inputs.get("s3EncryptionEnabled")),
        idle_minutes=_minutes(inputs.get("idleSessionTimeout")) or DEFAULT_IDLE_MINUTES,
        max_session_minutes=_minutes(inputs.get("maxSessionDuration")),
        run_as_enabled=_flag(inputs.get("runAsEnabled")),
        run_as_default_user=str(inputs.get("runAsDefaultUser") or ""),
    )


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _minutes(value: Any) -> int | None:
    try:
        minutes = int(str(value).strip())
    except ValueError:
        return None
    return minutes if minutes > 0 else None
