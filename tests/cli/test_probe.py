"""``xiot probe`` end to end: formats, exit codes and clean errors, against the loopback world."""

from __future__ import annotations

import os

import pytest

from tests.helpers import xiot
from tests.probe_world import World, closed_port
from xiot.lab.dns import serve_dns

pytestmark = pytest.mark.integration


def probe_args(world: World, *args: str) -> list[str]:
    return ["probe", *args, "--resolver", world.resolver, "--ca", str(world.ca),
            "--web-base", world.web_base, "--timeout", "3"]


def test_ndjson_records_and_exit_zero(probe_world: World) -> None:
    result = xiot(*probe_args(probe_world, "xiot.test", "-o", "ndjson"))
    assert result.code == 0, result.stderr
    records = result.ndjson()
    assert {r["domain"] for r in records} == {"xiot.test"}
    assert all(set(r) >= {"schema", "id", "status", "elapsed_ms", "message", "endpoint"}
               for r in records)
    assert {"dns.srv.xmpp-client", "tls.identity", "web.websocket"} <= {r["id"] for r in records}


def test_failed_check_exits_one_and_table_groups(probe_world: World) -> None:
    result = xiot(*probe_args(probe_world, "expired.test", "xiot.test", "-o", "table",
                              "--no-color"))
    assert result.code == 1, result.stderr
    assert "expired.test" in result.stdout and "tls.expiry" in result.stdout


def test_nagios_output_and_codes(probe_world: World) -> None:
    ok = xiot(*probe_args(probe_world, "xiot.test", "--only", "dns,tls", "-o", "nagios"))
    assert ok.code == 0, ok.stdout
    assert ok.stdout.startswith("XMPP PROBE OK - ") and "|" in ok.stdout
    assert "'xiot.test_cert_days'=" in ok.stdout
    warn = xiot(*probe_args(probe_world, "xiot.test", "--only", "tls", "--warn-days", "400",
                            "-o", "nagios"))
    assert warn.code == 1 and warn.stdout.startswith("XMPP PROBE WARNING")
    crit = xiot(*probe_args(probe_world, "expired.test", "--only", "tls", "-o", "nagios"))
    assert crit.code == 2 and crit.stdout.startswith("XMPP PROBE CRITICAL")
    assert len(crit.stdout.strip().splitlines()) == 1


def test_healthy_default_prosody_is_nagios_ok(probe_world: World) -> None:
    """Every check, the HTTP ones included: hardening advice is a note, never a WARNING."""
    result = xiot(*probe_args(probe_world, "xiot.test", "-o", "nagios"))
    assert result.code == 0, result.stdout
    assert result.stdout.startswith("XMPP PROBE OK - ") and " 0 warning" in result.stdout
    assert "note(s)" in result.stdout and "'xiot.test_notes'=" in result.stdout


def test_every_srv_record_dot_is_critical(probe_world: World) -> None:
    result = xiot(*probe_args(probe_world, "disabled.test", "--skip", "web", "-o", "nagios"))
    assert result.code == 2 and result.stdout.startswith("XMPP PROBE CRITICAL"), result.stdout
    assert "no XMPP service" in result.stdout


def test_csv_has_the_details_columns(probe_world: World) -> None:
    import csv
    import io

    result = xiot(*probe_args(probe_world, "xiot.test", "expired.test", "--skip", "web",
                              "-o", "csv"))
    assert result.code == 1, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    header = rows[0]
    assert header[:7] == ["schema", "domain", "id", "status", "elapsed_ms", "message",
                          "endpoint"]
    assert {"details.version", "details.sni", "details.days_left", "details.reason"} <= set(
        header)
    assert header[7:] == sorted(header[7:])
    assert all(len(row) == len(header) for row in rows[1:])
    assert sum(row == header for row in rows) == 1  # one header for the whole run
    expiry = [dict(zip(header, row, strict=True)) for row in rows[1:] if row[2] == "tls.expiry"]
    assert {row["domain"] for row in expiry} == {"xiot.test", "expired.test"}
    assert all(row["details.days_left"] for row in expiry)


def test_nagios_unknown_when_the_probe_cannot_run(probe_world: World) -> None:
    args = probe_args(probe_world, "xiot.test", "-o", "nagios")
    args[args.index("--resolver") + 1] = f"127.0.0.1:{closed_port()}"
    result = xiot(*args)
    assert result.code == 3
    assert result.stdout.startswith("XMPP PROBE UNKNOWN - ")
    assert "Traceback" not in result.stderr


def test_openmetrics(probe_world: World) -> None:
    result = xiot(*probe_args(probe_world, "xiot.test", "closed.test", "--kind", "client",
                              "--skip", "web", "-o", "openmetrics"))
    assert result.code == 1
    lines = result.stdout.splitlines()
    assert lines[-1] == "# EOF"
    assert 'xiot_probe_success{domain="closed.test"} 0' in lines
    assert 'xiot_probe_success{domain="xiot.test"} 1' in lines
    assert any(line.startswith("xiot_probe_cert_days_left{") for line in lines)


def test_domains_from_stdin_and_watch(probe_world: World) -> None:
    result = xiot(*probe_args(probe_world, "-f", "-", "--only", "dns", "--watch", "0.5",
                              "--rounds", "2", "-o", "ndjson"), stdin="xiot.test\n# note\n")
    assert result.code == 0, result.stderr
    rounds = {r["round"] for r in result.ndjson()}
    assert rounds == {1}  # nothing changed in round 2, so nothing was printed for it


def test_login_with_the_lab_profile(probe_world: World, lab_env) -> None:
    result = xiot(*probe_args(probe_world, "xiot.test", "--login", "--only", "login",
                              "-o", "ndjson"), env=lab_env)
    assert result.code == 0, result.stderr
    assert [(r["id"], r["status"]) for r in result.ndjson()] == [
        ("login.auth", "ok"), ("login.bind", "ok"), ("login.ping", "ok")]


@pytest.mark.parametrize(("args", "code", "words"), [
    (["probe", "bad domain!"], 2, "not a valid domain"),
    (["probe", "user@xiot.test"], 2, "not a domain"),
    (["probe"], 2, "no domain"),
    (["probe", "xiot.test", "--only", "nonsense"], 2, "unknown check group"),
    (["probe", "xiot.test", "--only", "login"], 2, "need --login"),
    (["probe", "xiot.test", "--only", "s2s", "--kind", "client"], 2, "need --kind server"),
    (["probe", "xiot.test", "--resolver", "not-an-ip"], 2, "not an IP address"),
    (["probe", "xiot.test", "-o", "nagios", "--watch", "5"], 3, "--watch"),
    (["ping", "-o", "nagios"], 2, "only available for 'xiot probe'"),
])
def test_bad_input_is_one_clean_line(args: list[str], code: int, words: str) -> None:
    line = xiot(*args).assert_clean_error(code) if code != 3 else None
    if line is None:  # -o nagios: UNKNOWN on stdout, the reason on stderr, exit 3
        result = xiot(*args)
        assert result.code == 3 and result.stdout.startswith("XMPP PROBE UNKNOWN")
        line = result.stderr
    assert words in line


def test_unreachable_resolver_exits_four(probe_world: World) -> None:
    args = probe_args(probe_world, "xiot.test")
    args[args.index("--resolver") + 1] = f"127.0.0.1:{closed_port()}"
    line = xiot(*args).assert_clean_error(4)
    assert "did not answer" in line


def test_garbage_resolver_exits_four(probe_world: World) -> None:
    with serve_dns([], zones=["test"], mode="garbage") as (host, port):
        args = probe_args(probe_world, "xiot.test")
        args[args.index("--resolver") + 1] = f"{host}:{port}"
        line = xiot(*args).assert_clean_error(4)
    assert "garbage" in line


def test_a_terminal_table_is_grouped_by_endpoint_and_ends_with_a_summary(
        probe_world: World) -> None:
    result = xiot(*probe_args(probe_world, "xiot.test", "--only", "dns,tcp,tls", "-o", "table",
                              "--no-color"))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum("xiot.test" in line.split("│")[1] for line in lines if "│" in line) == 1
    assert any(set(line.strip()) <= set("├┼─┤") and line.strip() for line in lines)  # groups
    (summary,) = [line for line in result.stderr.splitlines() if "checks:" in line]
    assert summary.startswith("xiot: 1 domain, ") and " ok, " in summary and " fail, " in summary


def test_probe_watch_on_a_terminal_is_one_live_view(probe_world: World) -> None:
    from tests.helpers import xiot_command
    from tests.terminal import Terminal

    argv = [xiot_command(), *probe_args(probe_world, "xiot.test", "--only", "dns",
                                        "--watch", "0.5", "--rounds", "3", "--no-color")]
    with Terminal(argv, {**os.environ}) as term:
        screen = term.wait_for("EXIT=")
    assert "EXIT=0" in screen
    assert screen.count("┃ domain") == 1
    assert "round 3 at " in screen and "no change" in screen
