"""Config files: which files, why; do they parse as botocore parses them; their traps; the profile in them;
and the environment variables that override them, shown the way ``aws configure list`` shows them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from onboard.doctor.context import DoctorContext
from onboard.doctor.fixes import move_region, rename_key, repair_structure, set_output, tighten_permissions
from onboard.doctor.model import Check, Finding, Group, fail, ok, warn

if TYPE_CHECKING:
    from onboard.awsconfig import AwsFiles
    from onboard.awsconfig.ini import Entry
    from onboard.awsconfig.problems import FileKind, Section

GROUP = Group.CONFIG
DOC_FILES = "https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-files.html"
DOC_ENV = "https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html"
DOC_OUTPUT = "https://docs.aws.amazon.com/cli/latest/userguide/cli-usage-output-format.html"
DOC_PRECEDENCE = (
    "https://docs.aws.amazon.com/cli/latest/userguide/cli-chap-configure.html#configure-precedence"
)
#: Problems that make botocore refuse a whole file, and those a fix can settle without a human's choice.
_FIXABLE = {"bom", "duplicate-section"}


def _setup_command(ctx: DoctorContext) -> str:
    team = f" --team {ctx.team.path}" if ctx.team is not None else ""
    return f"onboard setup{team}"


def files_in_use(ctx: DoctorContext) -> Finding:
    files = ctx.files()
    evidence = []
    missing_named = []
    for label, path, source in (
        ("config", files.config, files.config_source),
        ("credentials", files.credentials, files.credentials_source),
    ):
        state = "exists" if path.is_file() else "missing"
        evidence.append(f"{label}: {path} ({state}; from {source})")
        if state == "missing" and not source.startswith("default"):
            missing_named.append(f"{source} names {path}, which does not exist")
    data = {
        "config": str(files.config),
        "config_source": files.config_source,
        "credentials": str(files.credentials),
        "credentials_source": files.credentials_source,
    }
    if not files.config.is_file() and not files.credentials.is_file():
        return fail(
            "neither AWS file exists: no profile is set up yet",
            *evidence,
            next=_setup_command(ctx),
            doc=DOC_FILES,
            data=data,
        )
    if missing_named:
        return warn(
            "; ".join(missing_named), *evidence, next="check the variable's path", doc=DOC_ENV, data=data
        )
    return ok("the AWS files in use", *evidence, doc=DOC_FILES, data=data)


def parses(ctx: DoctorContext) -> Finding:
    """Each file read by botocore's own parser; the line-level reasons found by onboard's."""
    from botocore.configloader import raw_config_parse
    from botocore.exceptions import ConfigParseError

    from onboard.awsconfig import find_problems

    files = ctx.files()
    botocore_says = []
    for path in (files.config, files.credentials):
        if not path.is_file():
            continue
        try:
            raw_config_parse(str(path))
        except ConfigParseError as refused:
            botocore_says.append(f"botocore: {refused}")
        except UnicodeDecodeError:
            botocore_says.append(f"botocore: {path} is not UTF-8 text")
    problems = [p for p in find_problems(files) if p.severity == "error"]
    evidence = [f"{p.path}:{p.line}: {p.message}" for p in problems] + botocore_says
    if not problems and not botocore_says:
        return ok("both files parse as the AWS CLI reads them", doc=DOC_FILES)
    fix = None
    fixable = [p for p in problems if p.code in _FIXABLE]
    if fixable and len({p.path for p in fixable}) == 1:
        path = fixable[0].path
        duplicates = [
            p.message.split("[", 1)[1].rsplit("]", 1)[0] for p in fixable if p.code == "duplicate-section"
        ]
        fix = repair_structure(path, any(p.code == "bom" for p in fixable), duplicates)
    first = problems[0] if problems else None
    summary = f"{first.path}:{first.line}: {first.message}" if first else "botocore cannot read the AWS files"
    return fail(
        summary,
        *evidence,
        next=f"{first.hint} ({first.path}, line {first.line})" if first else "onboard doctor -v",
        doc=DOC_FILES,
        fix=fix,
        data={"problems": [p.code for p in problems]},
    )


def traps(ctx: DoctorContext) -> Finding:
    """What parses but does not mean what it seems: inline comments, region in credentials, wrong forms."""
    from onboard.awsconfig import find_problems, find_sections

    files = ctx.files()
    problems = [p for p in find_problems(files) if p.severity == "warning" and p.code != "loose-permissions"]
    if not problems:
        return ok("no inline comments, no region in the credentials file, every section in its file's form")
    evidence = [f"{p.path}:{p.line}: {p.message}" for p in problems]
    fix = None
    regions = {}
    for section in find_sections(files.credentials, "credentials"):
        if "region" in section.keys:
            value = _value_of(files.credentials, section.header_line, "region")
            if value is not None:
                regions[section.name] = value
    if regions and all(p.code == "region-in-credentials" for p in problems):
        fix = move_region(regions)
    return warn(
        problems[0].message
        if len(problems) == 1
        else f"{len(problems)} settings that do not mean what they seem",
        *evidence,
        next=problems[0].hint,
        doc=DOC_FILES,
        fix=fix,
        data={"problems": [p.code for p in problems]},
    )


def permissions(ctx: DoctorContext) -> Finding:
    from onboard.awsconfig import find_problems

    loose = [p for p in find_problems(ctx.files()) if p.code == "loose-permissions"]
    if not loose:
        return ok("the credentials file is private (or absent)")
    problem = loose[0]
    return warn(
        problem.message,
        f"{problem.path}",
        next=problem.hint.removeprefix("Make it private: "),
        doc=DOC_FILES,
        fix=tighten_permissions(problem.path),
    )


def profile(ctx: DoctorContext) -> Finding:
    """The profile in both files, in the right form, with keys and a region the AWS CLI will use."""
    from onboard.awsconfig import find_sections

    files = ctx.files()
    name = ctx.profile
    in_config = [s for s in find_sections(files.config, "config") if s.kind == "profile" and s.name == name]
    in_credentials = [s for s in find_sections(files.credentials, "credentials") if s.name == name]
    evidence = [f"profile {name!r} (chosen by {ctx.profile_source})"]
    evidence += _sections_shown([(files.config, s) for s in in_config])
    evidence += _sections_shown([(files.credentials, s) for s in in_credentials])
    if not in_config and not in_credentials:
        return fail(
            f"the profile {name!r} is in neither AWS file",
            *evidence,
            next=_setup_command(ctx),
            doc=DOC_FILES,
        )
    import botocore.exceptions

    placed = [(files.config, s) for s in in_config] + [(files.credentials, s) for s in in_credentials]
    try:
        credentials = ctx.credentials()
    except botocore.exceptions.PartialCredentialsError as partial:
        missing = str(partial.kwargs.get("cred_var", ""))
        owner = _keys_profile(ctx)
        summary = f"the profile {name!r} has no {missing}, so the AWS CLI refuses its keys"
        setup = _setup_command(ctx) + " --credentials-csv FILE"
        if owner != name:  # a role_arn profile: the half keys are its source profile's
            placed = _sections_of(files, owner)
            evidence += _sections_shown(placed)
            summary = (
                f"the source profile {owner!r} of the profile {name!r} (role_arn) has no {missing}, so the "
                "AWS CLI cannot assume the role"
            )
            setup = f"onboard setup --profile {owner} --credentials-csv FILE"
        return _misspelled(summary, missing, placed, evidence) or fail(
            summary,
            *evidence,
            next=setup,
            doc=DOC_FILES,
            data={"missing": missing, "profile": owner},
        )
    region = ctx.profile_region()
    data = {
        "profile": name,
        "region": region,
        "credentials_from": credentials.method if credentials else None,
    }
    if credentials is None:
        summary = f"the profile {name!r} has no access keys (no aws_access_key_id in [{name}] of the "
        summary += "credentials file)"
        return _misspelled(summary, "aws_access_key_id", placed, evidence) or fail(
            summary,
            *evidence,
            next=_setup_command(ctx) + " --credentials-csv FILE",
            doc=DOC_FILES,
            data=data,
        )
    evidence.append(f"keys from: {credentials.method}")
    if not region:
        example = ctx.team.region if ctx.team else "eu-west-1"
        return fail(
            f'the profile {name!r} has no region: `aws ssm start-session` fails with "You must '
            f'specify a region"',
            *evidence,
            next=f"aws configure set region {example} --profile {name}",
            doc=DOC_FILES,
            data=data,
        )
    evidence.append(f"region: {region}")
    keys_in = [
        label
        for label, sections in (("config", in_config), ("credentials", in_credentials))
        if any("aws_access_key_id" in s.keys for s in sections)
    ]
    if len(keys_in) == 2:
        return warn(
            f"the profile {name!r} has access keys in both files; the credentials file's win",
            *evidence,
            next=f"delete aws_access_key_id and aws_secret_access_key from [profile {name}] in "
            f"{files.config}",
            doc=DOC_PRECEDENCE,
            data=data,
        )
    if ctx.team is not None and ctx.team.region != region:
        return warn(
            f"the profile's region is {region}, but the team works in {ctx.team.region}",
            *evidence,
            next=f"aws configure set region {ctx.team.region} --profile {name}",
            doc=DOC_FILES,
            data=data,
        )
    return ok(f"profile {name!r}: keys from {credentials.method}, region {region}", *evidence, data=data)


def output(ctx: DoctorContext) -> Finding:
    """The profile's ``output`` is one the AWS CLI found on PATH can print (v1 has no yaml)."""
    from onboard.awsconfig.profile import output_formats

    cli = ctx.finding("tools.aws-cli").data
    major = cli.get("major")
    from_env = ctx.environ.get("AWS_DEFAULT_OUTPUT")
    chosen = from_env or profile_setting(ctx, "output")
    where = "AWS_DEFAULT_OUTPUT" if from_env else f"the profile {ctx.profile!r}"
    if not chosen:
        return ok("no output format set: the AWS CLI prints json")
    supported = output_formats(major)
    evidence = [
        f"output = {chosen} (from {where})",
        f"AWS CLI v{major} {cli.get('version')} prints: {', '.join(supported)}",
    ]
    data = {"output": chosen, "from": where, "supported": list(supported)}
    if chosen in supported:
        return ok(f"output = {chosen}, which the AWS CLI prints", *evidence, data=data)
    which = "every `aws` command" if from_env else f"every `aws ... --profile {ctx.profile}` command"
    summary = (
        f"output = {chosen} (from {where}), but AWS CLI v{major} cannot print it: {which} fails with "
        f'"Unknown output type: {chosen}"'
    )
    if from_env:
        return fail(
            summary, *evidence, next="unset AWS_DEFAULT_OUTPUT (or set it to json)", doc=DOC_OUTPUT, data=data
        )
    return fail(
        summary,
        *evidence,
        next=f"aws configure set output json --profile {ctx.profile}",
        doc=DOC_OUTPUT,
        fix=set_output(ctx.profile, "json"),
        data=data,
    )


#: The key names botocore reads for a profile's static keys.
_KEY_NAMES = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")


def _misspelled(
    summary: str, missing: str, placed: list[tuple[Path, Section]], evidence: list[str]
) -> Finding | None:
    """A failure naming the misspelled key that stands for ``missing`` in the profile's sections, if any.

    botocore ignores key names it does not know, so ``aws_secret_acess_key`` leaves the profile without
    a secret: the usual cause of a profile with half its keys.
    """
    import difflib

    for path, section in placed:
        for key in section.keys:
            if key in _KEY_NAMES or not difflib.get_close_matches(key, [missing], n=1, cutoff=0.8):
                continue
            line = _line_of(path, section.header_line, key)
            return fail(
                f"{summary}: `{key}` in [{section.header}] ({path}, line {line}) is a misspelling of "
                f"{missing}, a name the AWS CLI does not know and ignores",
                *evidence,
                next=f"rename `{key}` to `{missing}` in {path}, line {line}",
                doc=DOC_FILES,
                fix=rename_key(path, section.header_line, key, missing),
                data={"missing": missing, "misspelled": key},
            )
    return None


def profile_setting(ctx: DoctorContext, key: str, profile: str | None = None) -> str | None:
    """What the profile (default: the one checked) itself sets for ``key`` (credentials file first, as
    botocore merges them)."""
    for path, section in reversed(_sections_of(ctx.files(), profile or ctx.profile)):
        if key in section.keys:
            return _value_of(path, section.header_line, key)
    return None


def _sections_of(files: AwsFiles, profile: str) -> list[tuple[Path, Section]]:
    """The sections of ``profile`` in the config file, then in the credentials file."""
    from onboard.awsconfig import find_sections

    places: tuple[tuple[Path, FileKind], ...] = ((files.config, "config"), (files.credentials, "credentials"))
    return [
        (path, section)
        for path, kind in places
        for section in find_sections(path, kind)
        if section.kind == "profile" and section.name == profile
    ]


def _sections_shown(placed: list[tuple[Path, Section]]) -> list[str]:
    return [
        f"{path}:{section.header_line}: [{section.header}] with {', '.join(section.keys) or 'no keys'}"
        for path, section in placed
    ]


def _keys_profile(ctx: DoctorContext) -> str:
    """The profile whose static keys the checked one signs with: itself, or for a role_arn profile the end
    of its source_profile chain (botocore follows chained roles the same way)."""
    chain = [ctx.profile]
    while len(chain) < 10:
        source = profile_setting(ctx, "source_profile", chain[-1])
        if not source or not profile_setting(ctx, "role_arn", chain[-1]) or source in chain:
            break
        chain.append(source)
    return chain[-1]


def _value_of(path: Path, header_line: int, key: str) -> str | None:
    """The value of ``key`` in the section whose header is on ``header_line``, as botocore reads it."""
    entry = _entry(path, header_line, key)
    return entry.value if entry is not None else None


def _line_of(path: Path, header_line: int, key: str) -> int | None:
    """The line (1-based) of ``key`` in the section whose header is on ``header_line``."""
    entry = _entry(path, header_line, key)
    return entry.first + 1 if entry is not None else None


def _entry(path: Path, header_line: int, key: str) -> Entry | None:
    from onboard.awsconfig.files import read_bytes
    from onboard.awsconfig.ini import parse

    data = read_bytes(path) or b""
    document = parse(data.decode("utf-8", errors="replace").removeprefix("\ufeff"))
    for section in document.sections:
        if section.first + 1 == header_line:
            return section.entry(key)
    return None


CHECKS = (
    Check("config.files", GROUP, "Files in use", files_in_use),
    Check("config.parse", GROUP, "Files parse", parses, ("config.files",)),
    Check("config.traps", GROUP, "Settings that mislead", traps, ("config.files",)),
    Check("config.permissions", GROUP, "Credentials file permissions", permissions, ("config.files",)),
    Check("config.profile", GROUP, "The profile", profile, ("config.parse",)),
    Check("config.output", GROUP, "Output format", output, ("config.parse", "tools.aws-cli")),
)
