"""`onboard hosts`, aliases and resolving ALIAS|NAME|ID, against the practice lab."""

from __future__ import annotations

import subprocess

import pytest
from fixtures_everyday import learner_env, retagged
from fixtures_lab import lab, lab_server

from helpers import run_onboard

__all__ = ["lab", "lab_server"]

pytestmark = pytest.mark.slow


def test_hosts_lists_every_instance_with_alias_name_ping_platform_and_agent(lab, tmp_path):
    ran = run_onboard("hosts", "--json", env=learner_env(lab, tmp_path))
    assert ran.exit_code == 0, ran.output
    hosts = {host["id"]: host for host in ran.json()["data"]["hosts"]}
    assert set(hosts) == set(lab.instances.values())
    jupyter = hosts[lab.instances["jupyter"]]
    assert jupyter["aliases"] == ["jupyter"]
    assert jupyter["name"] == "jupyter"
    assert jupyter["ping_status"] == "Online" and jupyter["reachable"]
    assert jupyter["platform"] == "Amazon Linux 2"
    assert jupyter["agent_version"] == "3.3.1142.0"
    assert hosts[lab.instances["redash"]]["platform"] == "Ubuntu 22.04"


def test_an_offline_instance_is_listed_with_why_and_cannot_be_picked(lab, tmp_path):
    env = learner_env(lab, tmp_path)
    lab.fault("agent-offline", "airflow")
    ran = run_onboard("hosts", env=env)
    assert ran.exit_code == 0, ran.output
    assert "ConnectionLost" in ran.stdout
    assert f"{lab.instances['airflow']} cannot be reached: its SSM agent stopped answering" in ran.stdout
    with retagged(lab, {"jupyter": "analytics", "airflow": "analytics"}):
        chosen = run_onboard("connect", "analytics", env=env)
    # Unattended: fails and lists both, the offline one with its reason, rather than taking the online one.
    assert chosen.exit_code == 2, chosen.output
    assert lab.instances["jupyter"] in chosen.stderr and lab.instances["airflow"] in chosen.stderr
    assert "ConnectionLost (its SSM agent stopped answering" in chosen.stderr


def test_a_shared_name_tag_fails_unattended_listing_both_candidates(lab, tmp_path):
    env = learner_env(lab, tmp_path)
    with retagged(lab, {"jupyter": "analytics", "airflow": "analytics"}):
        ran = run_onboard("connect", "analytics", env=env)
        listed = run_onboard("hosts", "--json", env=env)
    assert ran.exit_code == 2, ran.output
    assert "2 instances are called 'analytics'" in ran.stderr
    assert lab.instances["jupyter"] in ran.stderr and lab.instances["airflow"] in ran.stderr
    assert "Starting session" not in ran.output  # no session was started on either
    names = {host["id"]: host["name"] for host in listed.json()["data"]["hosts"]}
    assert names[lab.instances["airflow"]] == "analytics"


def test_a_unique_name_tag_resolves_and_a_wrong_name_suggests(lab, tmp_path):
    env = learner_env(lab, tmp_path)
    ran = run_onboard("connect", "jupytr", env=env)
    assert ran.exit_code == 2
    assert "no instance is called 'jupytr'" in ran.stderr and "Did you mean 'jupyter'?" in ran.stderr


def test_aliases_added_used_and_removed(lab, tmp_path):
    env = learner_env(lab, tmp_path)
    added = run_onboard("hosts", "alias", "notebook", lab.instances["jupyter"], env=env)
    assert added.exit_code == 0, added.output
    aliases_file = tmp_path / "home" / ".config" / "onboard" / "aliases.toml"  # conftest's XDG
    assert aliases_file.stat().st_mode & 0o077 == 0
    listed = run_onboard("hosts", "--json", env=env).json()["data"]["hosts"]
    jupyter = next(h for h in listed if h["id"] == lab.instances["jupyter"])
    assert jupyter["aliases"] == ["notebook", "jupyter"]
    shell = run_onboard("hosts", "shell-aliases", "--shell", "bash", env=env)
    assert "alias notebook='onboard connect notebook'" in shell.stdout
    assert "shell-aliases --shell bash >> ~/.bashrc" in shell.stderr

    removed = run_onboard("hosts", "unalias", "notebook", env=env)
    assert removed.exit_code == 0, removed.output
    gone = run_onboard("connect", "notebook", env=env)
    assert gone.exit_code == 2 and "no instance is called 'notebook'" in gone.stderr
    again = run_onboard("hosts", "unalias", "notebook", env=env)
    assert again.exit_code == 2 and "you have no alias 'notebook'" in again.stderr


def test_an_alias_may_not_shadow_the_team_files(lab, tmp_path):
    ran = run_onboard("hosts", "alias", "jupyter", lab.instances["redash"], env=learner_env(lab, tmp_path))
    assert ran.exit_code == 2
    assert "the team file's alias" in ran.stderr


def test_bad_alias_input_is_refused_clearly(lab, tmp_path):
    env = learner_env(lab, tmp_path)
    bad_id = run_onboard("hosts", "alias", "nb", "i-xyz", env=env)
    assert bad_id.exit_code == 2 and "'i-xyz' is not an instance id" in bad_id.stderr
    bad_name = run_onboard("hosts", "alias", "no spaces", lab.instances["jupyter"], env=env)
    assert bad_name.exit_code == 2 and "cannot be an alias" in bad_name.stderr


def test_shell_aliases_work_in_bash_and_the_plain_form_runs_the_aws_cli(lab, tmp_path):
    env = learner_env(lab, tmp_path)
    ran = run_onboard("hosts", "shell-aliases", "--shell", "bash", env=env)
    script = ran.stdout + "alias jupyter\n"
    defined = subprocess.run(
        ["bash", "-c", "shopt -s expand_aliases\n" + script], capture_output=True, text=True
    )
    assert defined.stdout.strip() == "alias jupyter='onboard connect jupyter'"
    plain = run_onboard("hosts", "shell-aliases", "--shell", "zsh", "--plain", env=env)
    assert (
        f"alias jupyter='aws ssm start-session --target {lab.instances['jupyter']} --profile ssm "
        f"--region {lab.region}'" in plain.stdout
    )
    fish = run_onboard("hosts", "shell-aliases", "--shell", "fish", env=env)
    assert "alias redash 'onboard connect redash'" in fish.stdout
    pwsh = run_onboard("hosts", "shell-aliases", "--shell", "powershell", env=env)
    assert "function airflow { onboard connect airflow @args }" in pwsh.stdout
    wrong = run_onboard("hosts", "shell-aliases", "--shell", "tcsh", env=env)
    assert wrong.exit_code == 2 and "Use bash, zsh, fish or powershell" in wrong.stderr
