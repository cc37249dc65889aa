"""After onboarding: reach the team's servers by name (``hosts``), as the right user (``connect``), move
files through the transfer bucket (``transfer``) and open their web applications (``forward``).

Plain modules under the typer commands in ``onboard/cli/``; every AWS call goes through
:class:`onboard.everyday.reach.Reach`, so all four use the same profile, region and endpoint.
"""
