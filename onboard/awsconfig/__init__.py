"""Reading and safely editing ~/.aws/config and ~/.aws/credentials (see docs in each module).

Typical use, as the setup wizard does::

    settings = ProfileSettings(name="ssm", region="eu-west-1", access_key_id=..., secret_access_key=...)
    plan = plan_profile(settings)
    print(*(change.diff() for change in plan.changes))   # secrets masked
    if plan.replaced: ...ask before overwriting...
    apply_plan(plan)
"""

from onboard.awsconfig.files import AwsFiles, aws_files
from onboard.awsconfig.keys import AccessKey, clean_access_key, console_csv, read_credentials_csv
from onboard.awsconfig.problems import Problem, Section, find_problems, find_sections, tighten_permissions
from onboard.awsconfig.profile import FileChange, ProfilePlan, ProfileSettings, plan_profile
from onboard.awsconfig.writer import AppliedChange, apply_plan

__all__ = [
    "AccessKey",
    "AppliedChange",
    "AwsFiles",
    "FileChange",
    "Problem",
    "ProfilePlan",
    "ProfileSettings",
    "Section",
    "apply_plan",
    "aws_files",
    "clean_access_key",
    "console_csv",
    "find_problems",
    "find_sections",
    "plan_profile",
    "read_credentials_csv",
    "tighten_permissions",
]
