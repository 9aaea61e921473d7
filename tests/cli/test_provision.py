"""``xiot provision`` end to end: bad input is exit 2 with its line, before any change."""

from __future__ import annotations

import pytest

from tests.helpers import xiot

BAD_INPUTS = {
    "bad jid": ("jid\nok1@xiot.test\nnot a jid\n", "line 3: bad jid 'not a jid'"),
    "missing column": ("name\nPump\n", "line 2: missing jid"),
    "duplicate": ("jid\nok1@xiot.test\nok1@xiot.test\n", "line 3: duplicate of line 2"),
    "full jid": ("jid\nok1@xiot.test/res\n", "line 2: jid 'ok1@xiot.test/res' has a resource"),
    "broken json": ('{"jid": "ok1@xiot.test"}\n{"jid": \n', "line 2: not JSON"),
    "extra cells": ("jid\nok1@xiot.test,x\n", "line 2: 2 cells for 1 columns"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_account_input_is_exit_2_and_nothing_changes(case, lab_env, tmp_path):
    text, says = BAD_INPUTS[case]
    accounts = str(tmp_path / "acc.csv")
    result = xiot("provision", "accounts", "create", "-", "--accounts-file", accounts,
                  env=lab_env, stdin=text)
    line = result.assert_clean_error(2)
    assert says in line and "nothing was changed" in line and "stdin" in line
    assert not (tmp_path / "acc.csv").exists()
    listed = xiot("provision", "accounts", "list", "-", env=lab_env,
                  stdin="jid\nok1@xiot.test\n")
    assert listed.ndjson()[0]["status"] == "missing"


def test_bad_roster_input_is_exit_2(lab_env, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("jid,subscription\ndev0001@xiot.test,both\ndev0002@xiot.test,maybe\n"
                    "admin@xiot.test,both\n")
    result = xiot("provision", "roster", "apply", str(path), env=lab_env)
    line = result.assert_clean_error(2)
    assert f"{path}: 2 invalid rows" in line
    assert "line 3: subscription 'maybe'" in line and "line 4: admin@xiot.test cannot be" in line


def test_keep_going_processes_the_valid_rows(lab_env, tmp_path):
    accounts = str(tmp_path / "acc.csv")
    text = "jid\nkeep1@xiot.test\nbad jid\nkeep2@xiot.test\n"
    result = xiot("provision", "accounts", "create", "-", "--keep-going", "--accounts-file",
                  accounts, env=lab_env, stdin=text)
    assert result.code == 1, result.stderr
    rows = {r["line"]: r for r in result.ndjson()}
    assert rows[3]["status"] == "invalid" and "bad jid" in rows[3]["reason"]
    assert rows[2]["status"] == rows[4]["status"] == "created"
    assert "2 created, 1 invalid" in result.stderr
    cleanup = xiot("provision", "accounts", "delete", "-", env=lab_env,
                   stdin="jid\nkeep1@xiot.test\nkeep2@xiot.test\n")
    assert cleanup.code == 0, cleanup.stderr


def test_unknown_method_and_missing_file_are_usage_errors(lab_env):
    assert "--method magic" in xiot("provision", "accounts", "create", "-", "--method",
                                    "magic", env=lab_env, stdin="jid\na@xiot.test\n"
                                    ).assert_clean_error(2)
    assert "cannot read /no/such.csv" in xiot("provision", "roster", "apply", "/no/such.csv",
                                              env=lab_env).assert_clean_error(2)
