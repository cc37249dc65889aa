"""The lab's world file: the default world, and every mistake in a trainer's copy explained."""

from __future__ import annotations

import pytest

from onboard.errors import UsageError
from onboard.lab.world import DEFAULT_WORLD_TOML, MAX_LEARNERS, load_world, parse_world


def test_the_default_world_is_the_seed_articles_team():
    world = load_world()
    assert [i.alias for i in world.instances] == ["jupyter", "airflow", "redash"]
    assert world.learners == ("alice",)
    assert world.trainer == "trainer"
    assert world.instance_arn("i-0a1b2c3d4e5f60001") == (
        "arn:aws:ec2:ap-northeast-1:123456789012:instance/i-0a1b2c3d4e5f60001"
    )
    assert world.instances[0].hostname == "ip-10-0-1-23"
    assert world.instances[2].platform == "Ubuntu"


def test_a_class_replaces_the_learners_up_to_thirty():
    world = load_world().with_learners([f"learner{n}" for n in range(MAX_LEARNERS)])
    assert len(world.learners) == MAX_LEARNERS
    with pytest.raises(UsageError, match="at most 30"):
        load_world().with_learners([f"learner{n}" for n in range(MAX_LEARNERS + 1)])
    with pytest.raises(UsageError, match="trainer's name"):
        load_world().with_learners(["trainer"])
    with pytest.raises(UsageError, match="named twice"):
        load_world().with_learners(["ann", "ann"])
    with pytest.raises(UsageError, match="not a valid IAM user name"):
        load_world().with_learners(["ann smith"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[people]", "[peeple]"), "unknown key `peeple`"),
        (('group = "ssm-users"', 'gruop = "ssm-users"'), "Did you mean `group`?"),
        (
            ('id = "i-0a1b2c3d4e5f60002"', 'id = "i-0a1b2c3d4e5f60001"'),
            "instance id i-0a1b2c3d4e5f60001 appears twice",
        ),
        (('id = "i-0a1b2c3d4e5f60003"', 'id = "web-3"'), "is not i- and 8 or 17 hex digits"),
        (('region = "ap-northeast-1"', 'region = "tokyo"'), "is not an AWS region"),
        (('account = "123456789012"', 'account = "1234"'), "is not 12 digits"),
        (('users = ["redash"]', 'users = ["Redash Admin"]'), "not an OS user name"),
        (("version = 1", "version = 2"), "version = 2 is not supported"),
        (('bucket = "data-team-transfer"', 'bucket = "Data_Team"'), "is not an S3 bucket name"),
    ],
)
def test_mistakes_name_the_file_the_key_and_the_fix(change, message):
    old, new = change
    assert old in DEFAULT_WORLD_TOML
    with pytest.raises(UsageError) as error:
        parse_world(DEFAULT_WORLD_TOML.replace(old, new, 1), "lab.toml")
    assert error.value.message.startswith("lab.toml")
    assert message in error.value.message + " " + (error.value.hint or "")


def test_a_missing_or_broken_file_is_explained(tmp_path):
    with pytest.raises(UsageError, match="cannot read the lab world file"):
        load_world(tmp_path / "nope.toml")
    broken = tmp_path / "lab.toml"
    broken.write_text("version = \n")
    with pytest.raises(UsageError, match="is not valid TOML"):
        load_world(broken)


def test_names_where_one_is_anothers_prefix_and_a_dash_are_refused_with_the_reason():
    """`session/${aws:username}-*` lets bob end and resume bob-x's sessions: AWS evaluates it so too."""
    from onboard.iamnames import check_learner_names
    from onboard.lab.iampolicy import Decision, Principal, evaluate
    from onboard.lab.policies import extras_policy, user_policy

    world = load_world()
    bob = Principal(arn="arn:aws:iam::123456789012:user/bob", name="bob", user_id="AIDABOB", kind="User")
    bob_x_session = "arn:aws:ssm:ap-northeast-1:123456789012:session/bob-x-0123456789abcdef0"
    policies = [user_policy(world), extras_policy(world)]
    for action in ("ssm:TerminateSession", "ssm:ResumeSession"):
        assert evaluate(policies, action, bob_x_session, bob) is Decision.ALLOWED

    with pytest.raises(UsageError) as refused:
        world.with_learners(["alice", "bob", "bob-x"])
    assert "'bob'" in refused.value.message and "'bob-x'" in refused.value.message
    assert "session/${aws:username}-*" in refused.value.message
    text = DEFAULT_WORLD_TOML.replace('learners = ["alice"]', 'learners = ["bob-x", "carol", "bob"]')
    with pytest.raises(UsageError, match="bob-x"):
        parse_world(text, "lab.toml")
    # The trainer's sessions are covered by the same policy shape.
    with pytest.raises(UsageError, match="trainer-2"):
        world.with_learners(["trainer-2"])

    assert world.with_learners(["bob", "bobx", "bo", "bob_x"]).learners == ("bob", "bobx", "bo", "bob_x")
    assert check_learner_names(["bob", "Bob-x"]) == ("bob", "Bob-x")  # ARNs match case-sensitively
