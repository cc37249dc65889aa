"""Verifier kinds for the "Your daily tools" lesson, graded from AWS's evidence.

- ``session_document``: a session of the learner's, of the named document, to the target, since the step
  began (DescribeSessions' Target and DocumentName): a shell by alias as the team's user is
  AWS-StartInteractiveCommand, a tunnel AWS-StartPortForwardingSession. A plain ``aws ssm start-session``
  fails it.
- ``transferred_file``: the SHA-256 of the learner's local file appears in the log of one of their
  sessions to the target: ``onboard transfer`` has the instance report ``ONBOARD-TRANSFER ok <sha256>``
  once the file there matched, so the log proves the file arrived (or left) intact. Copying the file
  into the bucket alone fails it.

Registered into :data:`onboard.lessons.verifiers.VERIFIERS` when either module is imported.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from onboard.lessons import verifiers
from onboard.lessons.verifiers import (
    CheckContext,
    Evidence,
    TranscriptContains,
    Verdict,
    Verifier,
    learner_sessions,
    session_evidence,
)

#: What the instance's half of ``onboard transfer`` reports (onboard.everyday.relay.MARKER).
TRANSFER_REPORT = "ONBOARD-TRANSFER ok"


class SessionOfDocument(Verifier):
    kind = "session_document"
    required = ("target", "document")

    def run(self, context: CheckContext) -> Verdict:
        target, document = self.data["target"], self.data["document"]
        check = f"a session of yours to {target} with the document {document}"
        sessions = [s for s in learner_sessions(context) if s.get("Target") == target]
        right = [s for s in sessions if s.get("DocumentName") == document]
        if right:
            return Verdict(
                check,
                True,
                f"session {right[0]['SessionId']} ({right[0].get('Status')})",
                found=[session_evidence(right[0])],
            )
        seen = sorted({str(s.get("DocumentName")) for s in sessions})
        evidence = f"your sessions to {target} used {', '.join(seen)}" if seen else f"no session to {target}"
        return Verdict(
            check, False, evidence, "Use the onboard command the step shows, not aws ssm start-session."
        )


class TransferredFile(Verifier):
    kind = "transferred_file"
    required = ("target", "path")

    def run(self, context: CheckContext) -> Verdict:
        path = context.workdir / Path(self.data["path"]).expanduser()
        check = f"the log of a session to {self.data['target']} shows {path.name}'s SHA-256 checked there"
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as error:
            return Verdict(
                check, False, f"{path} cannot be read: {error.strerror}", f"Write the file at {path}."
            )
        inner = TranscriptContains(
            {
                "kind": "transcript_contains",
                "target": self.data["target"],
                "patterns": [f"{TRANSFER_REPORT} {digest}"],
            }
        )
        verdict = verifiers.run_verifier(inner, context)
        hint = "" if verdict.passed else f"Move the file with onboard transfer (SHA-256 {digest[:12]}...)."
        found = [*verdict.found, Evidence("local_file", str(path), detail=f"sha256 {digest}")]
        return Verdict(check, verdict.passed, verdict.evidence, hint, found=found if verdict.passed else [])


verifiers.VERIFIERS.update({kind.kind: kind for kind in (SessionOfDocument, TransferredFile)})
