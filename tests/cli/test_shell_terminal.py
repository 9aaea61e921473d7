"""The interactive shell as a person uses it, in a real pseudo-terminal (tmux)."""

from __future__ import annotations

from tests.helpers import xiot_command
from tests.terminal import Terminal


def _env(lab_env: dict[str, str], tmp_path) -> dict[str, str]:
    return dict(lab_env, XDG_STATE_HOME=str(tmp_path / "state"))


def test_type_a_command_complete_with_tab_and_leave_with_ctrl_d(fleet, lab_env, tmp_path):
    with Terminal([xiot_command(), "--no-color", "shell"], _env(lab_env, tmp_path)) as term:
        term.wait_for("xiot>")
        screen = term.wait_for("online,")  # the toolbar: connection and presence counts
        assert "connected as admin@xiot.test" in screen
        term.keys("ping -o ndjson", "Enter")
        term.wait_for('"status":"ok"')
        term.keys("rea", "Tab")
        term.wait_for("xiot> readout")
        term.keys(" dev000", "Tab")  # several devices: a menu of the roster's JIDs
        screen = term.wait_for("dev0002@xiot.test")
        assert "dev0001@xiot.test" in screen
        term.keys("C-u", "bogus-command", "Enter")
        term.wait_for("No such command 'bogus-command'")
        term.keys("use dev0001@xiot.test", "Enter")
        term.wait_for("xiot dev0001@xiot.test>")
        term.keys("readout -o ndjson", "Enter")
        term.wait_for('"jid":"dev0001@xiot.test/sim"')
        term.keys("C-d")
        screen = term.wait_for("EXIT=")
    assert "EXIT=0" in screen
    history = (tmp_path / "state" / "xiot" / "history").read_text()
    assert "ping -o ndjson" in history and "use dev0001@xiot.test" in history


def test_ctrl_c_cancels_a_long_command_and_the_prompt_comes_back(fleet, lab_env, tmp_path):
    with Terminal([xiot_command(), "--no-color", "shell"], _env(lab_env, tmp_path)) as term:
        term.wait_for("xiot>")
        term.keys("ping -c 100 -i 1 -o ndjson", "Enter")
        term.wait_for('"seq":2')
        term.keys("C-c")
        term.wait_for("interrupted")
        term.keys("help ping", "Enter")
        term.wait_for("Usage: xiot ping")
        term.keys("C-d")
        screen = term.wait_for("EXIT=")
    assert "EXIT=0" in screen


def test_a_presence_change_is_printed_above_a_half_typed_line(fleet, lab_env, lab_accounts,
                                                               tmp_path):
    import asyncio
    import threading

    from tests.conftest import LAB_NAME
    from tests.helpers import lab_settings
    from xiot.xmpp.session import Session

    account = lab_accounts["dev0041"]
    done = threading.Event()

    admin: list[str] = []  # the shell's full JID: messages to the bare JID skip it (priority -1)

    async def come_online() -> None:
        settings = lab_settings(LAB_NAME, jid=account.jid)
        async with Session(settings, password=account.password, send_presence=True) as me:
            await asyncio.sleep(0.5)
            me.client.send_message(mto=admin[0], mbody="hello\u202ethere")
            await asyncio.to_thread(done.wait, 20)

    with Terminal([xiot_command(), "--no-color", "shell"], _env(lab_env, tmp_path)) as term:
        screen = term.wait_for("online,")
        admin.append(screen.split("connected as ")[1].split(";")[0].split()[0])
        term.keys("readout dev00")
        term.wait_for("xiot> readout dev00")
        device = threading.Thread(target=asyncio.run, args=(come_online(),))
        device.start()
        try:
            screen = term.wait_for("* dev0041@xiot.test is available (was unavailable)")
            assert "xiot> readout dev00" in screen  # the typed line is still there, below
            assert screen.index("dev0041@xiot.test is available") < screen.index(
                "xiot> readout dev00")
            screen = term.wait_for("* message from dev0041@xiot.test/")
            assert "hello\\u202ethere" in screen  # escaped, not obeyed
            prompts = [line for line in screen.splitlines() if line.startswith("xiot>")]
            assert prompts == ["xiot> readout dev00"]  # still one prompt, the line intact
            assert screen.index("* message from") < screen.index("xiot> readout dev00")
        finally:
            done.set()
            device.join(30)
        term.wait_for("* dev0041@xiot.test is unavailable (was available)")
        term.keys("C-u", "C-d")
        assert "EXIT=0" in term.wait_for("EXIT=")


def test_multi_line_raw_xml_and_help_at_the_prompt(lab_env, lab, tmp_path):
    with Terminal([xiot_command(), "--no-color", "shell"], _env(lab_env, tmp_path)) as term:
        term.wait_for("xiot>")
        term.keys("raw <iq type='get' to='xiot.test' id='multi1'>", "Enter")
        term.wait_for("...")  # the stanza is not finished: a continuation line
        term.keys("<ping xmlns='urn:xmpp:ping'/></iq>", "Enter")
        screen = term.wait_for('id="multi1"')
        assert 'type="result"' in screen
        term.keys("help", "Enter")
        screen = term.wait_for("Shell commands")  # after the root help ('xiot --help')
        assert "use [JID|-]" in screen and "Exit codes:" in screen
        term.keys("exit", "Enter")
        assert "EXIT=0" in term.wait_for("EXIT=")
