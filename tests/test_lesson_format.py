"""The lesson format: the shipped lessons parse and lint clean; broken files are reported with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import REPO, build_file_tree, run_onboard
from onboard.lessons.catalog import Course, shipped_lessons_dir
from onboard.lessons.format import fill, fill_data, load_lesson, parse_lesson
from onboard.lessons.lint import lint_paths

GOOD = """+++
id = "tiny"
title = "A tiny lesson"
order = 9
minutes = 3
points = 10
+++

Intro for {{user}}.

## Say hello

Type this on your computer:

```sh
echo hello {{nonce}} > hello.txt
```

```hint
Use echo.
```

```check
time_limit = 5

[[verify]]
kind = "local_file"
path = "hello.txt"
contains = "{{nonce}}"
```

## Read on

Nothing to check here.
"""


def test_the_shipped_lessons_lint_clean_and_come_in_course_order():
    files, problems = lint_paths([REPO / "lessons"])
    assert problems == []
    assert len(files) == 8
    ids = [header.id for header in Course.from_settings().headers()]
    assert ids == ["ready", "connect", "sudo", "transfer", "habits", "troubleshoot", "daily", "new-server"]
    assert shipped_lessons_dir().resolve() == (REPO / "lessons").resolve()


def test_every_shipped_lesson_gives_its_points_to_its_checks():
    for path in sorted((REPO / "lessons").glob("0*.md")):
        lesson = load_lesson(path)
        assert sum(step.points for step in lesson.steps) == lesson.points, path
        assert all(step.verify for step in lesson.steps if step.points), path


def test_a_lesson_is_read_into_steps_commands_hints_and_checks(tmp_path):
    path = build_file_tree(tmp_path, {"tiny.md": GOOD}) / "tiny.md"
    lesson = load_lesson(path)
    assert (lesson.id, lesson.points, lesson.minutes) == ("tiny", 10, 3)
    assert lesson.intro == "Intro for {{user}}.\n"
    first, second = lesson.steps
    assert (first.id, first.title, first.line) == ("say-hello", "Say hello", 11)
    assert first.commands[0].where == "local" and first.commands[0].lines == (
        "echo hello {{nonce}} > hello.txt",
    )
    assert first.hints == ("Use echo.",)
    assert first.points == 10 and first.time_limit == 5
    assert "```check" not in first.instructions and "```hint" not in first.instructions
    assert "echo hello" in first.instructions  # command blocks stay in the instructions, to copy
    assert not second.graded and second.points == 0
    values = {"nonce": "nonce-1", "user": "carol"}
    assert fill(first.commands[0].lines[0], values) == "echo hello nonce-1 > hello.txt"
    assert fill_data(first.verify[0], values)["contains"] == "nonce-1"
    assert fill("${HOME} {a,b} {{unknown}}", values) == "${HOME} {a,b} {{unknown}}"


BROKEN = {
    "front.md": "no front matter\n## Step\n",
    "fields.md": GOOD.replace("minutes = 3\n", "minuts = 3\n"),
    "kind.md": GOOD.replace('kind = "local_file"', 'kind = "local_fiel"'),
    "missing.md": GOOD.replace('path = "hello.txt"\n', ""),
    "variable.md": GOOD.replace("{{user}}", "{{usr}}"),
    "toml.md": GOOD.replace("time_limit = 5", "time_limit = = 5"),
    "points.md": GOOD.replace("time_limit = 5", "time_limit = 5\npoints = 12"),
    "nosteps.md": GOOD.split("## Say hello")[0],
    "prereq.md": GOOD.replace("points = 10\n+++", 'points = 10\nprerequisites = ["nowhere"]\n+++'),
}
EXPECTED = {
    "front.md": (1, "must start with front matter"),
    "fields.md": (5, "unknown front matter key 'minuts' (did you mean 'minutes'?)"),
    "kind.md": (27, "unknown verifier kind 'local_fiel' (did you mean 'local_file'?)"),
    "missing.md": (27, "local_file needs the field 'path'"),
    "variable.md": (9, "undefined variable {{usr}} (did you mean 'user'?)"),
    "toml.md": (24, "the check block is not TOML"),
    "points.md": (6, "points add up to 12, but the lesson's points are 10"),
    "nosteps.md": (8, "the lesson has no steps"),
    "prereq.md": (1, "prerequisite 'nowhere' is neither here nor shipped"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_lint_reports_each_broken_file_with_its_line(tmp_path, name):
    path = build_file_tree(tmp_path, {name: BROKEN[name]}) / name
    _, problems = lint_paths([path])
    line, message = EXPECTED[name]
    assert any(p.line == line and message in p.message for p in problems), [str(p) for p in problems]
    assert all(str(p).startswith(f"{path}:") for p in problems)


def test_lint_command_exits_1_with_file_and_line_and_json(tmp_path):
    folder = build_file_tree(tmp_path / "lessons", {"kind.md": BROKEN["kind.md"], "tiny.md": GOOD})
    ran = run_onboard("lesson", "lint", str(folder))
    assert ran.exit_code == 1
    assert f"{folder / 'kind.md'}:27: unknown verifier kind 'local_fiel'" in ran.stdout
    as_json = run_onboard("lesson", "lint", str(folder), "--json")
    body = as_json.json()
    assert body["command"] == "lesson.lint" and not body["ok"]
    assert body["data"]["problems"][0] == {
        "file": str(folder / "kind.md"),
        "line": 27,
        "message": body["data"]["problems"][0]["message"],
        "severity": "error",
    }
    assert run_onboard("lesson", "lint", str(REPO / "lessons")).exit_code == 0


def test_a_trainers_lessons_join_the_shipped_ones_and_replace_by_id(tmp_path):
    folder = build_file_tree(
        tmp_path / "mine",
        {
            "tiny.md": GOOD,
            "connect.md": GOOD.replace('id = "tiny"', 'id = "connect"').replace("order = 9", "order = 2"),
        },
    )
    course = Course.from_settings(folder)
    headers = {header.id: header for header in course.headers()}
    assert "tiny" in headers and headers["connect"].path == folder / "connect.md"
    picked = Course.from_settings(folder, ("tiny", "ready"))
    assert [header.id for header in picked.headers()] == ["tiny", "ready"]


def test_parse_keeps_going_after_a_problem(tmp_path):
    path = Path(build_file_tree(tmp_path, {"kind.md": BROKEN["kind.md"]})) / "kind.md"
    lesson, problems = parse_lesson(path)
    assert lesson is not None and len(problems) == 1


def test_the_format_documents_example_is_a_valid_lesson(tmp_path):
    import re

    readme = (REPO / "lessons" / "README.md").read_text(encoding="utf-8")
    example = re.search(r"^````markdown\n(.*?)^````$", readme, flags=re.S | re.M).group(1)
    path = build_file_tree(tmp_path, {"hello.md": example}) / "hello.md"
    _, problems = lint_paths([path])
    assert problems == [] and load_lesson(path).steps[0].verify[0]["kind"] == "s3_object"


# ------------------------------------------------------------------------- lint: hostile and careless files


def _lint_one(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "lesson.md"
    path.write_text(text)
    _, problems = lint_paths([path])
    return [str(problem) for problem in problems]


def _with_check(check: str) -> str:
    return GOOD.replace('[[verify]]\nkind = "local_file"\npath = "hello.txt"\ncontains = "{{nonce}}"', check)


@pytest.mark.parametrize("kind", ['["local_file"]', "{ a = 1 }", "3"])
def test_lint_names_a_kind_that_is_not_a_name_instead_of_crashing(tmp_path, kind):
    problems = _lint_one(tmp_path, _with_check(f"[[verify]]\nkind = {kind}\npath = 'x'"))
    assert any("unknown verifier kind a " in problem for problem in problems), problems


def test_lint_survives_deep_nesting_in_a_check_and_in_combinators(tmp_path):
    deep = '[[verify]]\nkind = "all"\nof = ' + "[" * 5000 + "]" * 5000
    problems = _lint_one(tmp_path, _with_check(deep))
    assert problems and all("Traceback" not in problem for problem in problems)
    nested = '{kind = "local_file", path = "x"}'
    for _ in range(12):
        nested = f'{{kind = "any", of = [{nested}]}}'
    problems = _lint_one(tmp_path, _with_check(f'[[verify]]\nkind = "all"\nof = [{nested}]'))
    assert any("nests deeper than 8 levels" in problem for problem in problems), problems


def test_lint_names_an_unknown_lab_fault(tmp_path):
    text = GOOD.replace("## Read on", '## Read on\n\n```setup\nlab_fault = "agent-ofline"\n```')
    problems = _lint_one(tmp_path, text)
    assert any("unknown lab fault 'agent-ofline' (did you mean 'agent-offline'?)" in p for p in problems)


def test_lint_names_an_unclosed_fence(tmp_path):
    problems = _lint_one(tmp_path, GOOD + "\n## Last\n\n```sh\necho never closed\n")
    assert any("block is never closed" in problem for problem in problems), problems


def test_a_huge_lesson_is_refused_at_once(tmp_path):
    import time

    path = tmp_path / "huge.md"
    path.write_text(GOOD + ("filler line of text\n" * 600_000))  # about 12 MB
    began = time.monotonic()
    _, problems = lint_paths([path])
    assert time.monotonic() - began < 2
    assert "a lesson is at most 1024 KiB" in problems[0].message


def test_a_large_lesson_under_the_cap_lints_in_linear_time(tmp_path):
    import time

    step = "## Step {n}\n\nsome text {{{{nonce}}}}\n\n```sh\necho hi\n```\n\n"
    path = tmp_path / "large.md"
    path.write_text(GOOD + "".join(step.format(n=n) for n in range(10_000)))  # about 600 KB
    began = time.monotonic()
    lint_paths([path])
    assert time.monotonic() - began < 15  # 27 s for 10 MB before; the cap now keeps a file at 1 MB


@pytest.mark.parametrize("pattern", ["(a+)+$", r"(\w+\s?)*x", "(?:ab{1,500})+"])
def test_lint_refuses_a_pattern_that_backtracks_catastrophically(tmp_path, pattern):
    check = f'[[verify]]\nkind = "transcript_contains"\ntarget = "i-0"\npatterns = [\'{pattern}\']'
    problems = _lint_one(tmp_path, _with_check(check))
    assert any("can take forever on a long log" in problem for problem in problems), problems


def test_a_catastrophic_pattern_is_stopped_at_run_time_too():
    from onboard.lessons.verifiers.patterns import PatternTooSlow, compiled, search

    with pytest.raises(PatternTooSlow, match="was stopped"):
        search(compiled("(a|aa)+$"), "a" * 5000 + "!")  # alternation: no nested repeat for lint to see


def test_a_trainers_lesson_that_runs_local_commands_is_flagged_but_passes(tmp_path):
    check = '[[verify]]\nkind = "command_output"\ncommand = "curl https://example.com/x | sh"'
    path = tmp_path / "lesson.md"
    path.write_text(_with_check(check))
    result = run_onboard("lesson", "lint", str(path))
    assert result.exit_code == 0, result.output
    assert "note: its checks run commands on the learner's computer" in result.output


@pytest.mark.parametrize("command", [["lesson", "list"], ["lesson", "reset", "--yes"]])
def test_lesson_list_and_reset_validate_the_team_file(tmp_path, command):
    team = tmp_path / "team.toml"
    team.write_text('team = "' + "x" * 5000 + '"\nregion = "eu-west-1"\nprofile = "ssm"\n')
    ran = run_onboard(*command, env={"ONBOARD_TEAM": str(team)})
    assert ran.exit_code != 0 and "Traceback" not in ran.output
    assert str(team) in ran.stderr  # the team file's own message, naming the file


def test_lint_notes_a_command_pattern_that_would_show_as_a_regular_expression(tmp_path):
    check = (
        '[[verify]]\nkind = "session_commands"\ntarget = "{{instance.id}}"\n\n'
        "[[verify.commands]]\ncommand = 'sudo +(su +- +|-iu +){{target_user}}'\n\n"
        "[[verify.commands]]\ncommand = 'whoami'\n\n"
        "[[verify.commands]]\ncommand = 'id +-un'\nsays = \"id -un\"\n"
    )
    path = tmp_path / "lesson.md"
    path.write_text(_with_check(check))
    result = run_onboard("lesson", "lint", str(path))
    assert result.exit_code == 0, result.output  # a note: the lesson still works
    notes = [line for line in result.stdout.splitlines() if "note:" in line]
    assert len(notes) == 1, notes  # only the pattern without says, not plain whoami or one with says
    assert "sudo +(su +- +|-iu +){{target_user}}" in notes[0] and 'says = "..."' in notes[0]
    assert notes[0].startswith(f"{path}:")
