"""The drill "the new server does not show up": graded from the instance's registration, shortcut refused."""

from __future__ import annotations

from fixtures_lessons import LEARNER, lab, lab_server, learner  # noqa: F401


def ping(learner) -> str:  # noqa: F811
    jupyter = learner.lab.instances["jupyter"]
    info = learner.lab.client("ssm", LEARNER).describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [jupyter]}]
    )
    return info["InstanceInformationList"][0]["PingStatus"]


def test_the_drill_sets_the_trap_and_clearing_the_fault_is_not_the_fix(learner):  # noqa: F811
    runner = learner.runner()
    runner.start("new-server")
    assert ping(learner) == "ConnectionLost"  # the policy is attached, the agent never looked again
    runner.next()
    early = runner.check()
    assert not early["passed"] and "describe-instance-information" in early["verdicts"][0]["check"]
    # The shortcut: putting the whole lab back makes the server Online, but it is not the skill.
    learner.lab.clear_faults()
    assert ping(learner) == "Online"
    shortcut = runner.check()
    assert not shortcut["passed"]
    assert any("cleared instead of fixed" in str(v) for v in shortcut["verdicts"])
    runner.reset("new-server")


def test_restarting_the_agent_passes_the_drill(learner):  # noqa: F811
    played = learner.play("new-server")
    assert played.passed, [(s.title, s.verdicts) for s in played.steps]
    assert ping(learner) == "Online"
