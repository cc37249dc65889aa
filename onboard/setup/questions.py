"""The wizard's questions, as data, and the one place that turns them into questionary prompts.

Each :class:`Question` says what it asks, how (confirm, select, text, password, path), how an answer is
checked, and which command-line flag answers it instead, so every screen of ``onboard setup`` can also
be answered unattended. :class:`Asker` decides, for each question, between the flag's value, a prompt
on the terminal, and the default (``--yes``); when none exists it names the flag to give.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from onboard.awsconfig.profile import OUTPUT_FORMATS
from onboard.errors import OnboardError, UsageError

Kind = Literal["confirm", "select", "text", "password", "path"]

#: A validator returns the cleaned answer, or raises an OnboardError saying what is wrong.
Validator = Callable[[Any], Any]


@dataclass(frozen=True)
class Choice:
    value: str
    title: str


@dataclass(frozen=True)
class Question:
    key: str
    prompt: str
    kind: Kind
    #: The flag that answers this question on the command line (named in errors in unattended runs).
    flag: str
    validate: Validator | None = None
    choices: tuple[Choice, ...] = ()
    #: A line shown under the prompt (questionary's instruction).
    instruction: str | None = None


# Profile names and output formats are checked by the writer's own rules (onboard.awsconfig).
def _profile_name(value: str) -> str:
    from onboard.awsconfig import ProfileSettings

    return ProfileSettings(name=value.strip()).name


def _output(value: str) -> str:
    from onboard.awsconfig import ProfileSettings

    return ProfileSettings(output=value.strip()).output or ""


def _region(value: str) -> str:
    from onboard.awsclient import check_region

    return check_region(value)


def _existing_file(value: str | Path) -> Path:
    path = Path(str(value).strip().strip("'\"")).expanduser()
    if not path.is_file():
        raise UsageError(f"{path} is not a file", "Give the path of the CSV the IAM console downloaded.")
    return path


KEY_SOURCES = (
    Choice("csv", "From the CSV file the IAM console downloaded (recommended)"),
    Choice("type", "Type or paste them (the secret stays hidden)"),
    Choice("keep", "Keep the keys already in this profile"),
)

QUESTIONS: dict[str, Question] = {
    question.key: question
    for question in (
        Question(
            "install_plugin",
            "Install the Session Manager plugin now?",
            "confirm",
            "--plugin/--no-plugin",
        ),
        Question(
            "install_aws_cli",
            "Install AWS CLI v2 for you (no admin rights needed)?",
            "confirm",
            "--aws-cli/--no-aws-cli",
        ),
        Question("profile", "Profile name", "text", "--profile", validate=_profile_name),
        Question(
            "region",
            "AWS region",
            "text",
            "--region",
            validate=_region,
            instruction="(a region code such as eu-west-1)",
        ),
        Question(
            "output",
            "Output format of the AWS CLI",
            "select",
            "--output",
            validate=_output,
            choices=tuple(Choice(name, name) for name in OUTPUT_FORMATS),
        ),
        Question(
            "key_source",
            "Where are your access keys?",
            "select",
            "--credentials-csv or --access-key-id",
            choices=KEY_SOURCES,
        ),
        Question(
            "credentials_csv",
            "Path of the credentials CSV",
            "path",
            "--credentials-csv",
            validate=_existing_file,
        ),
        # The key id and secret are checked together, once both are in (onboard.awsconfig.clean_access_key).
        Question("access_key_id", "Access key ID", "text", "--access-key-id"),
        Question(
            "secret_access_key",
            "Secret access key",
            "password",
            "--secret-access-key-stdin (or ONBOARD_SECRET_ACCESS_KEY)",
        ),
        Question(
            "remove_bom",
            "Remove the byte-order mark (nothing else in the file changes)?",
            "confirm",
            "--yes",
        ),
        Question(
            "replace_profile",
            "The profile holds other settings (listed above). Replace them?",
            "confirm",
            "--yes",
        ),
        Question(
            "trust_endpoint",
            "Send this profile's AWS calls to that endpoint?",
            "confirm",
            "--endpoint-url URL (the same URL, to confirm it)",
        ),
        Question("write", "Write these changes?", "confirm", "--yes"),
    )
}


class Asker:
    """Answers questions from flags, the terminal, or defaults, in that order."""

    def __init__(self, *, interactive: bool):
        self.interactive = interactive

    def answer(
        self,
        key: str,
        *,
        given: Any = None,
        default: Any = None,
        choices: tuple[Choice, ...] | None = None,
    ) -> Any:
        """The answer to ``QUESTIONS[key]``: ``given`` (from its flag), else asked, else ``default``."""
        question = QUESTIONS[key]
        if given is not None:
            return question.validate(given) if question.validate else given
        if self.interactive:
            return self._prompt(question, default, choices or question.choices)
        if default is None:
            raise UsageError(
                f"{question.prompt.rstrip('?')}: no answer, and nothing to ask in an unattended run",
                f"Give it with {question.flag}.",
            )
        return question.validate(default) if question.validate else default

    def _prompt(self, question: Question, default: Any, choices: tuple[Choice, ...]) -> Any:
        import questionary

        def check(text: str) -> bool | str:
            if question.validate is None:
                return True
            try:
                question.validate(text)
            except OnboardError as wrong:
                return wrong.message
            return True

        common: dict[str, Any] = {"qmark": "?"}
        if question.instruction:
            common["instruction"] = question.instruction
        if question.kind == "confirm":
            prompt = questionary.confirm(question.prompt, default=bool(default), **common)
        elif question.kind == "select":
            options = [questionary.Choice(title=choice.title, value=choice.value) for choice in choices]
            prompt = questionary.select(
                question.prompt,
                choices=options,
                default=default if default in [c.value for c in choices] else None,
                **common,
            )
        elif question.kind == "password":
            prompt = questionary.password(question.prompt, validate=check, **common)
        elif question.kind == "path":
            prompt = questionary.path(question.prompt, default=str(default or ""), validate=check, **common)
        else:
            prompt = questionary.text(question.prompt, default=str(default or ""), validate=check, **common)
        # unsafe_ask: Ctrl-C raises KeyboardInterrupt (exit 130) instead of returning None.
        value = prompt.unsafe_ask()
        return question.validate(value) if question.validate else value
