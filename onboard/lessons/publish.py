"""`lesson publish`: the learner's record, with its evidence, at s3://<transfer bucket>/onboard/progress/."""

from __future__ import annotations

import json
from typing import Any

from onboard.errors import OnboardError, UsageError
from onboard.lessons.progress import Progress


def publish_record(progress: Progress, team: Any, settings: Any) -> dict[str, Any]:
    """Put the record at s3://<transfer bucket>/onboard/progress/<IAM user name>.json."""
    import botocore.exceptions

    from onboard.awsclient import client
    from onboard.secrets import scrub

    if team is None or team.transfer is None:
        raise UsageError("the team file names no transfer bucket to publish to", "Ask your trainer.")
    bucket = team.transfer.bucket
    key = f"onboard/progress/{progress.user}.json"
    record = progress.record()
    body = json.dumps(record, indent=2).encode()
    try:
        client("s3", settings).put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    except botocore.exceptions.ClientError as refused:
        error = refused.response.get("Error", {})
        raise OnboardError(
            f"s3://{bucket}/{key} could not be written: "
            f"{error.get('Code')}: {scrub(error.get('Message', ''))}",
            "Your trainer's policy must allow s3:PutObject on onboard/progress/${aws:username}.json.",
        ) from None
    except botocore.exceptions.BotoCoreError as failed:
        raise OnboardError(
            f"s3://{bucket}/{key} could not be written: {scrub(str(failed))}",
            "Check your network, then run `onboard lesson publish` again.",
        ) from None
    return {"url": f"s3://{bucket}/{key}", "bytes": len(body), "edited_by_hand": record["edited_by_hand"]}
