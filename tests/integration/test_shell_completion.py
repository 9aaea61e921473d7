"""Completion against a live session: roster JIDs, and node names fetched in the background."""

from __future__ import annotations

import asyncio
import io
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
