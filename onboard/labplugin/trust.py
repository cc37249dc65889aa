"""Which certificates the lab's plugin trusts for a wss:// StreamUrl.

AWS's plugin (aws/session-manager-plugin, ``websocketutil.OpenConnection``) dials the StreamUrl with
gorilla/websocket's default dialer: Go's system certificate pool, which on Linux reads ``SSL_CERT_FILE``
and ``SSL_CERT_DIR`` when set; the AWS CLI passes it no CA. Its own API calls (ResumeSession,
TerminateSession) go through aws-sdk-go with the shared config enabled, which honours ``AWS_CA_BUNDLE``
and the profile's ``ca_bundle``. The lab's plugin trusts the same system store (Python's default context
reads the same two variables through OpenSSL), and adds the CA bundle the AWS CLI itself trusted for the
endpoint that handed out the StreamUrl: ``AWS_CA_BUNDLE``, else the profile's ``ca_bundle`` (what a class
lab's kit sets). A learner on AWS's plugin exports ``SSL_CERT_FILE`` instead (see the README).
"""

from __future__ import annotations

import ssl


def stream_tls_context(profile: str) -> ssl.SSLContext:
    """The system's trusted CAs plus the CA bundle botocore resolves for ``profile`` ("" : the default)."""
    context = ssl.create_default_context()
    bundle = profile_ca_bundle(profile)
    if bundle:
        context.load_verify_locations(cafile=bundle)
    return context


def profile_ca_bundle(profile: str) -> str | None:
    """AWS_CA_BUNDLE, else ``ca_bundle`` of ``profile``, as botocore resolves it (None: neither is set)."""
    import botocore.session

    session = botocore.session.Session(profile=profile or None)
    bundle = session.get_config_variable("ca_bundle")
    return str(bundle) if bundle else None
