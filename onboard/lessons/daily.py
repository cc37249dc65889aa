"""Verifier kinds for the "Your daily tools" lesson, graded from AWS's evidence.

- ``session_document``: a session of the learner's, of the named document, to the target, since the step
  began (DescribeSessions' Target and DocumentName): a shell by alias as the team's user is
  AWS-StartInteractiveCommand, a tunnel AWS-StartPortForwardingSession. A plain ``aws ssm start-session``
  fails it.
- ``transferred_file``: the SHA-256 of the learner's local file appears in the log of one of their
  AWS-StartNonInteractiveCommand sessions to the target: ``onboard transfer`` has the instance report
  ``ONBOARD-TRANSFER ok <sha256>`` once the file there matched, so the log proves the file arrived (or
  left) intact. Copying the file into the bucket alone fails it, and so does echoing the report line in a
  shell session (its log is a shell's, not the relay's). Limit: a non-interactive session started by hand
  with that echo as its command would pass; DescribeSessions does not show a session's parameters.

Registered into :data:`onboard.lessons.verifiers.VERIFIERS` when either module is imported.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from onboard.lessons import verifiers
from onboard.lessons.verifiers import (
    CheckContext,
    Evidence,
    Verdict,
    Verifier,
    learner_sessions,
    session_evidence,
)
from onboard.lessons.verifiers.sessions import NoLog, read_log, shown_in, target_sessions

#: What the instance's half of ``onboard transfer`` reports (onboard.everyday.relay.MARKER).
TRANSFER_REPORT = "ONBOARD-TRANSFER ok"
#: The document ``onboard transfer`` runs the instance's half with.
RELAY_DOCUMENT = "AWS-StartNonInteractiveCommand"


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
        if not seen:
            return Verdict(
                check,
                False,
                f"no session to {target}",
                "Run the onboard command the step shows; if it failed, its message says why "
                f"(onboard doctor --target {target} checks the rest).",
            )
        return Verdict(
            check,
            False,
            f"your sessions to {target} used {', '.join(seen)}",
            "Use the onboard command the step shows, not aws ssm start-session.",
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
        report = f"{TRANSFER_REPORT} {digest}"
        local = Evidence("local_file", str(path), detail=f"sha256 {digest}")
        sessions, _ = target_sessions(context, self.data["target"])
        relays = [s for s in sessions if s.get("DocumentName") == RELAY_DOCUMENT]
        for session in relays:
            try:
                log = read_log(context, session)
            except NoLog:
                continue
            # The report line is "ONBOARD-TRANSFER ok <sha256> <path on the server>".
            if any(line.split()[:3] == report.split() for line in log.text.splitlines()):
                passed = shown_in(check, log, f"reports {path.name}'s SHA-256 matched on the server")
                return Verdict(check, True, passed.evidence, found=[*passed.found, local])
        evidence = (
            f"none of your {len(relays)} onboard transfer session(s) to {self.data['target']} reported "
            f"SHA-256 {digest[:12]}..."
            if relays
            else f"no onboard transfer session (document {RELAY_DOCUMENT}) to {self.data['target']}"
        )
        return Verdict(
            check, False, evidence, f"Move the file with onboard transfer (SHA-256 {digest[:12]}...)."
        )


verifiers.VERIFIERS.update({kind.kind: kind for kind in (SessionOfDocument, TransferredFile)})
