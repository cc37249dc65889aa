"""The practice lab's own ``session-manager-plugin``, in Python.

The AWS CLI runs it exactly as it runs AWS's plugin (``python -m onboard.labplugin`` through the
launcher :func:`onboard.labplugin.launcher.write_launcher` writes); it speaks the data-channel
protocol of :mod:`onboard.session.protocol` to the StreamUrl it is given (ws:// or wss:// only).
"""

#: What ``session-manager-plugin --version`` prints: at least AWS's documented minimum (1.2.764.0),
#: so the AWS CLI does not warn about an outdated plugin.
VERSION = "1.2.764.0"
