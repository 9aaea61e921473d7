"""``xiot sim run --processes N``: one fleet over several simulator processes."""

from __future__ import annotations

import csv
import io

from tests.helpers import xiot

USERS = [f"dev{i:04d}" for i in range(41, 47)]  # free accounts of the session lab


def test_a_fleet_split_over_two_processes_comes_online(lab, lab_env, lab_accounts, tmp_path):
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["jid", "password"])
    for user in USERS:
        writer.writerow([lab_accounts[user].jid, lab_accounts[user].password])
    path = tmp_path / "devices.csv"
    path.write_text(text.getvalue())
    path.chmod(0o600)
    result = xiot("sim", "run", "--accounts", str(path), "--processes", "2", "--duration",
                  "4", "--kinds", "thermometer,relay", "-o", "ndjson", env=lab_env, timeout=90)
    assert result.code == 0, result.stderr
    online = {r["jid"] for r in result.ndjson() if r["event"] == "online"}
    assert online == {f"{lab_accounts[u].jid}/sim" for u in USERS}
    assert "sim: 6 devices in 2 processes" in result.stderr
    assert "sim[1/2]: 3 devices online, 0 failed" in result.stderr
    assert "sim[2/2]: 3 devices online, 0 failed" in result.stderr
    assert result.stderr.count("stopped") == 2
    for user in USERS:  # passwords went to the children on stdin, never to output
        assert lab_accounts[user].password not in result.stdout + result.stderr
