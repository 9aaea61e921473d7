"""The replay runner against the lab: shipped scenarios pass, failures are explained."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from tests.helpers import lab_settings
from xiot.replay.model import load
from xiot.replay.runner import Account, RunOptions, run_all, run_scenario

HERE = Path(__file__).parent
SCENARIOS = Path(__file__).parents[3] / "scenarios"


@pytest.fixture()
def credentials(lab, lab_accounts):
    def resolve(scenario, actor):
        settings = lab_settings("testlab")
        if actor.account:
            account = lab_accounts[actor.account]
            return Account(replace(settings, jid=account.jid), account.password)
        return Account(settings)
    return resolve


def run(path: Path, credentials, timeout: float = 5.0):
    return asyncio.run(run_scenario(load(path), credentials, RunOptions(step_timeout=timeout)))


@pytest.mark.parametrize("name", sorted(p.name for p in SCENARIOS.glob("*.yaml")))
def test_shipped_scenario_passes(name, credentials, fleet):
    result = run(SCENARIOS / name, credentials)
    assert result.status == "ok", [s.to_record() for s in result.steps if s.status != "ok"]
    assert all(step.status == "ok" for step in result.steps)


def test_failing_scenario_shows_diff_line_and_what_else_arrived(credentials):
    result = run(HERE / "fails.yaml", credentials, timeout=2)
    assert result.status == "fail"
    failed = result.failed
    assert (failed.index, failed.kind, failed.line) == (3, "expect", 12)
    assert failed.message.startswith("no matching stanza within 2s")
    assert "closest differs at /iq/query/name text: expected 'ejabberd', got 'Prosody'" \
        in failed.message
    assert "-    <name>ejabberd</name>" in failed.diff
    assert "+    <name>Prosody</name>" in failed.diff
    # the presence the server reflected was skipped, and is shown
    assert any(text.startswith("<presence from='admin@xiot.test/") for text in failed.skipped)
    assert [s.status for s in result.steps] == ["ok", "ok", "ok", "fail", "skip"]
    assert result.steps[-1].message == "not run: an earlier step failed"


def test_expect_none_passes_quietly_and_fails_on_an_arrival(credentials):
    result = run(HERE / "expect_none.yaml", credentials)
    assert [s.status for s in result.steps] == ["ok", "ok", "ok", "fail"]
    assert result.failed.message.startswith("a stanza arrived that should not have:\n<iq ")


def test_missing_feature_skips_with_the_reason(credentials):
    result = run(HERE / "lacks_feature.yaml", credentials)
    assert result.status == "skip"
    assert result.reason == "server lacks urn:xiot:test:no-such-feature"
    assert [s.status for s in result.steps] == ["ok", "skip"]


def test_tags_filter_skips_without_connecting(credentials):
    options = RunOptions(only_tags=("nothing-has-this",))
    result = asyncio.run(run_scenario(load(SCENARIOS / "ping.yaml"), credentials, options))
    assert (result.status, result.reason, result.steps) == ("skip",
                                                            "not tagged nothing-has-this", ())


def test_parallel_runs_give_every_result(credentials):
    scenarios = [load(SCENARIOS / "ping.yaml"), load(HERE / "fails.yaml")] * 2

    async def collect():
        return [r async for r in run_all(scenarios, credentials, RunOptions(step_timeout=2),
                                         jobs=4)]

    results = asyncio.run(collect())
    assert sorted(r.status for r in results) == ["fail", "fail", "ok", "ok"]


def test_an_unknown_account_fails_the_scenario_not_the_run(lab):
    from xiot.errors import ConfigError

    def refuse(scenario, actor):
        raise ConfigError("no such account")

    result = asyncio.run(run_scenario(load(SCENARIOS / "ping.yaml"), refuse))
    assert result.status == "fail"
    assert result.steps[0].message == "accounts: no such account"
