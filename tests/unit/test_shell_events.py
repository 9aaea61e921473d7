"""Notifications above the prompt are shown once: not again while a background
``pubsub watch`` job prints them itself."""

from __future__ import annotations

import io
from types import SimpleNamespace

from xiot.shell.engine import _Running
from xiot.shell.events import print_messages
from xiot.shell.jobs import Job
from xiot.xmlsafe import fromstring

EVENT = ("<message xmlns='jabber:client' from='pubsub.x.org'><event "
         "xmlns='http://jabber.org/protocol/pubsub#event'><items node='n'><item id='i1'/>"
         "</items></event></message>")
CHAT = "<message xmlns='jabber:client' from='a@x.org/r'><body>hello</body></message>"


def _shown(jobs: dict, stanza: str) -> str:
    handlers = []
    session = SimpleNamespace(client=SimpleNamespace(
        add_event_handler=lambda name, handler: handlers.append(handler)))
    shell = SimpleNamespace(running=_Running(), jobs=SimpleNamespace(
        table=jobs, watching_pubsub=lambda: any(
            j.state == "running" and j.command.startswith("pubsub watch")
            for j in jobs.values())))
    out = io.StringIO()
    print_messages(session, shell, SimpleNamespace(stdout=out))  # type: ignore[arg-type]
    handlers[0](SimpleNamespace(xml=fromstring(stanza)))
    return out.getvalue()


def test_a_notification_is_shown_when_nothing_watches():
    assert _shown({}, EVENT) == "* pubsub item on n (pubsub.x.org) id i1\n"


def test_a_background_pubsub_watch_prints_notifications_itself():
    watch = Job(1, "pubsub watch n", _Running(), readable=True)
    assert _shown({1: watch}, EVENT) == ""
    assert _shown({1: watch}, CHAT) == "* message from a@x.org/r: hello\n"
    watch.code = 0  # ended: the shell shows them again
    assert _shown({1: watch}, EVENT) != ""


def test_jobs_know_whether_one_is_a_running_pubsub_watch():
    from xiot.shell.jobs import Jobs

    jobs = Jobs(SimpleNamespace())  # type: ignore[arg-type]
    jobs.table[1] = Job(1, "readout d@x --watch 5", _Running(), readable=True)
    assert not jobs.watching_pubsub()
    jobs.table[2] = Job(2, "pubsub watch sensors", _Running(), readable=True)
    assert jobs.watching_pubsub()
