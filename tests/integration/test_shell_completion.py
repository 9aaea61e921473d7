"""Completion against a live session: roster JIDs, and node names fetched in the background."""

from __future__ import annotations

import asyncio
import io
import json
import uuid

from prompt_toolkit.document import Document

from tests.conftest import LAB_NAME
from tests.helpers import lab_settings
from xiot.runtime import Environment
from xiot.shell.completion import ShellCompleter
from xiot.shell.engine import Shell


def _offered(completer: ShellCompleter, text: str) -> list[str]:
    return [c.text for c in completer.get_completions(Document(text), None)]


def test_tab_offers_roster_jids_and_node_names_without_waiting(lab):
    node = f"shell-tab-{uuid.uuid4().hex[:6]}"
    env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                      stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)

    async def main() -> tuple[list[str], list[str], list[str], list[str]]:
        shell = Shell(lab_settings(LAB_NAME), env, announce=True)
        await shell.open()
        try:
            assert await shell.execute(["pubsub", "create", node, "-o", "ndjson"]) == 0
            completer = ShellCompleter(shell)
            jids = _offered(completer, "readout dev004")
            first = _offered(completer, "pubsub items shell-tab-")  # starts the fetch
            later: list[str] = []
            for _ in range(100):  # the fetch ends within the lab's round trip
                await asyncio.sleep(0.05)
                later = _offered(completer, "pubsub items shell-tab-")
                if node in later:
                    break
            cd = _offered(completer, "cd shell-tab-")
            await shell.execute(["pubsub", "delete", node, "-o", "ndjson"])
            return jids, first, later, cd
        finally:
            await shell.close()

    jids, first, later, cd = asyncio.run(main())
    assert [j for j in jids if "/" not in j] == [f"dev{n:04d}@xiot.test" for n in range(40, 50)]
    assert node not in first  # nothing was waited for
    assert node in later and node in cd


def test_field_and_parameter_names_are_learned_from_earlier_answers(lab, fleet):
    from xiot.shell.learned import Learned

    env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                      stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)

    async def main() -> tuple[list[str], list[str], list[str], list[str]]:
        shell = Shell(lab_settings(LAB_NAME), env, announce=True)
        learned = Learned()
        shell.on_open.append(learned.attach)
        await shell.open()
        try:
            completer = ShellCompleter(shell, learned=learned)
            before = _offered(completer, "readout dev0003@xiot.test --fields ")
            assert await shell.execute(["readout", "dev0003@xiot.test", "-o", "ndjson"]) == 0
            assert await shell.execute(["control", "dev0003@xiot.test", "form",
                                        "-o", "ndjson"]) == 0
            fields = _offered(completer, "readout dev0003@xiot.test --fields ")
            shell.device = "dev0003@xiot.test"
            listed = _offered(completer, f"readout --fields {fields[0]},")
            params = _offered(completer, "control dev0003@xiot.test set ")
            return before, fields, listed, params
        finally:
            await shell.close()

    before, fields, listed, params = asyncio.run(main())
    rows = [json.loads(line) for line in env.stdout.getvalue().splitlines()  # type: ignore
            if line.startswith("{")]
    read = {r["name"] for r in rows if "status" in r and r.get("name")}
    assert before == [] and set(fields) == read
    assert listed and all(item.startswith(f"{fields[0]},") for item in listed)
    assert params and all(p.endswith("=") for p in params)
    assert "Output=" in params
