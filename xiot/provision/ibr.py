"""XEP-0077 in-band registration, for servers where we are not an admin.

Creating an account happens before authentication, on a stream of its own: the server offers
the ``register`` stream feature (Prosody: ``allow_registration``), we send the username and
password, then log in with them to prove it worked.  Changing a password and deleting an
account are done as the account itself (its credentials come from the accounts file).
Registration is throttled per address on most servers (loopback is exempt on Prosody);
admin commands (XEP-0133) are the bulk path.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from xiot.errors import RemoteError, Timeout, TLSError, XiotError

if TYPE_CHECKING:
    from xiot.config import Settings
    from xiot.xmpp.session import Session

NS = "jabber:iq:register"


async def register(settings: Settings, jid: str, password: str, timeout: float) -> str:
    """Create ``jid``: ``created``, or ``exists`` if the server says the name is taken."""
    from slixmpp.exceptions import IqError, IqTimeout

    from xiot.xmpp.session import new_client, plan_endpoints, stream_encrypted

    endpoint = (await plan_endpoints(settings, jid.split("@", 1)[1]))[0]
    xmpp = new_client(settings, endpoint, jid, password)
    xmpp.register_plugin("xep_0077")
    outcome: asyncio.Future[str | XiotError] = asyncio.get_running_loop().create_future()

    def settle(value: str | XiotError) -> None:
        if not outcome.done():
            outcome.set_result(value)

    asked: list[bool] = []

    async def on_register(_form: Any) -> None:
        # A server that offers registration but no STARTTLS (or an attacker who stripped
        # it) would be sent the password in the clear: only --tls none may do that.
        if not endpoint.plain and not stream_encrypted(xmpp):
            settle(TLSError(f"{endpoint} offers registration without TLS, and xiot never "
                            "sends a password in plaintext",
                            "Enable TLS on the server; for a loopback test server only, "
                            "--tls none --server 127.0.0.1:PORT"))
            return
        asked.append(True)
        # through the stanza plugin: slixmpp sends nothing before the session starts
        # except what it recognises as registration
        iq = xmpp.make_iq_set()
        iq["register"]["username"] = jid.split("@", 1)[0]
        iq["register"]["password"] = password
        try:
            await iq.send(timeout=timeout)
        except IqError as exc:
            condition = exc.iq["error"]["condition"]
            settle("exists" if condition == "conflict" else
                   RemoteError(f"registration of {jid} refused: {condition}",
                               condition=condition))
        except IqTimeout:
            settle(Timeout(f"no answer to the registration of {jid}"))

    def on_failed_auth(_: Any) -> None:
        if asked:
            settle(RemoteError(f"{jid} was registered but its login failed"))
        else:
            settle(RemoteError(f"{endpoint} offers no in-band registration (XEP-0077)",
                               "Use an admin profile (XEP-0133), or enable registration on "
                               "the server"))

    xmpp.add_event_handler("register", on_register)
    # logged in: created now, or (no registration asked) it existed with this password
    xmpp.add_event_handler("session_start", lambda _: settle("created" if asked else "exists"))
    xmpp.add_event_handler("failed_all_auth", on_failed_auth)
    xmpp.connect(endpoint.address, endpoint.port)
    try:
        result = await asyncio.wait_for(outcome, timeout)
    except TimeoutError:
        result = Timeout(f"registration of {jid} did not finish within {timeout:g}s")
    finally:
        xmpp.abort()
    if isinstance(result, XiotError):
        raise result
    return result


async def change_password(session: Session, password: str, timeout: float) -> None:
    await _set(session, {"username": session.jid.local or "", "password": password}, timeout)


async def cancel(session: Session, timeout: float) -> None:
    """Delete the account the session is logged in as."""
    await _set(session, {"remove": None}, timeout)


async def _set(session: Session, children: dict[str, str | None], timeout: float) -> None:
    from slixmpp.exceptions import IqError, IqTimeout

    iq = session.client.make_iq_set()
    query = ET.SubElement(iq.xml, f"{{{NS}}}query")
    for name, text in children.items():
        ET.SubElement(query, f"{{{NS}}}{name}").text = text
    try:
        await session.guard(iq.send(timeout=timeout))
    except IqError as exc:
        condition = exc.iq["error"]["condition"]
        raise RemoteError(f"the server refused: {condition}", condition=condition) from None
    except IqTimeout:
        raise Timeout(f"no answer within {timeout:g}s") from None
    except XiotError as exc:
        if "remove" in children:  # the server closes the stream of a deleted account
            return
        raise exc
