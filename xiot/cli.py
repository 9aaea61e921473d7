"""The ``xiot`` root command: global options, lazy command groups, and the error boundary.

Start-up time is part of the interface (``xiot --help`` and every tab completion run this
module), so command groups are imported only when they are invoked, the help listing comes
from the table below, and nothing here imports slixmpp, dnspython, rich or prompt_toolkit.
"""

from __future__ import annotations

import importlib
import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.20 vendors click; its exception classes are the ones raised
    from typer import _click as click
except ImportError:  # pragma: no cover - older typer uses the click package
    import click  # type: ignore[no-redef]

from xiot import __version__

#: name -> (module, one-line help).  The help text is shown without importing the module.
COMMANDS: dict[str, tuple[str, str]] = {
    "ping": ("xiot.commands.ping", "Ping the server or a JID (XEP-0199) and show round trips."),
    "disco": ("xiot.commands.disco", "Show a JID's identities, features and items (XEP-0030)."),
    "readout": ("xiot.commands.readout", "Read sensor values from devices (XEP-0323)."),
    "control": ("xiot.commands.control", "Set device parameters or show control forms "
                "(XEP-0325)."),
    "nodes": ("xiot.commands.nodes", "Browse a concentrator's sources and nodes (XEP-0326)."),
    "pubsub": ("xiot.commands.pubsub", "PubSub nodes, items, subscriptions and live events "
               "(XEP-0060)."),
    "sim": ("xiot.commands.sim", "Run simulated devices on the lab or any server."),
    "lab": ("xiot.commands.lab", "Run a real Prosody (or ejabberd) on loopback to try xiot "
            "against."),
    "demo": ("xiot.commands.demo", "Tour xiot on a private lab it starts and tears down."),
    "probe": ("xiot.commands.probe", "Check XMPP domains: DNS, TLS, certificates, streams, HTTP."),
    "config": ("xiot.commands.config", "Show resolved settings and the configured profiles."),
    "presence": ("xiot.commands.presence", "Fleet presence: settled snapshot, live watch, set."),
    "provision": ("xiot.commands.provision", "Create accounts and rosters from CSV/NDJSON."),
    "replay": ("xiot.commands.replay", "Replay scripted XMPP exchanges as tests (YAML)."),
    "shell": ("xiot.commands.shell", "Many commands over one live connection: a prompt or "
              "a script."),
}

EPILOG = """\b
Examples:
  xiot lab up                        start a private Prosody and a 'lab' profile
  xiot --profile lab ping -c 3       three XEP-0199 pings to the lab server
  xiot --profile lab disco           what the server says it supports
  xiot --profile lab disco pubsub.xiot.test --items | jq .

\b
Exit codes: 0 ok, 1 some checks or targets failed, 2 usage error, 3 configuration,
4 connection/TLS, 5 authentication, 6 timeout, 7 remote error, 130 interrupted.
Output: a table on a terminal, NDJSON when piped; -o table|json|ndjson|csv overrides.

\b
Tab completion (commands, options, profile names, readout types, lab device JIDs):
  xiot --install-completion          bash, zsh or fish, for the current shell
  source completions/xiot.bash       or the scripts in completions/ of the source tree"""


class LazyGroup(TyperGroup):
    """A group whose subcommands are imported only when one of them is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(super().list_commands(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module = importlib.import_module(COMMANDS[cmd_name][0])
        command = typer.main.get_command(module.app)
        command.name = cmd_name
        readable_metavars(command)
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        """Unknown commands get a did-you-mean from the lazy table, as subcommands do."""
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.UsageError as exc:
            from difflib import get_close_matches

            matches = get_close_matches(args[0], list(COMMANDS)) if args else []
            if matches and "Did you mean" not in exc.message:
                choices = " or ".join(f"'{m}'" for m in matches)
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {choices}?"
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        CompletionItem = click.shell_completion.CompletionItem
        items = [
            CompletionItem(name, help=help_text)
            for name, (_, help_text) in sorted(COMMANDS.items())
            if name.startswith(incomplete)
        ]
        if incomplete.startswith("-") or not items:
            items += [
                item for param in self.get_params(ctx) for item in _option_items(param, incomplete)
            ]
        return items


def readable_metavars(command: click.Command) -> None:
    """Give every value-taking option without a metavar one named after it (``--timeout
    TIMEOUT``), for the whole command tree: typer's defaults read ``<int range>``, ``<str>``.
    Choices keep their ``[a|b|c]`` form; arguments read like ``JID``."""
    for param in command.params:
        if getattr(param, "metavar", None) is not None:
            continue
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            continue
        if getattr(param.type, "choices", None):
            continue
        param.metavar = (param.name or "value").upper().rstrip("_")
    for sub in getattr(command, "commands", {}).values():
        readable_metavars(sub)


def _option_items(param: click.Parameter, incomplete: str) -> list[Any]:
    CompletionItem = click.shell_completion.CompletionItem
    if param.param_type_name != "option" or getattr(param, "hidden", False):
        return []
    return [CompletionItem(o, help=getattr(param, "help", None))
            for o in param.opts if o.startswith(incomplete)]


app = typer.Typer(
    cls=LazyGroup,
    name="xiot",
    help="xiot: the command-line toolkit for XMPP-based IoT networks.",
    epilog=EPILOG,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


class TlsChoice(StrEnum):
    auto = "auto"
    starttls = "starttls"
    direct = "direct"
    none = "none"


class OutputChoice(StrEnum):
    table = "table"
    json = "json"
    ndjson = "ndjson"
    csv = "csv"
    nagios = "nagios"
    openmetrics = "openmetrics"


def _complete_profiles(incomplete: str) -> list[str]:
    """Profile names for tab completion; a broken config file completes nothing."""
    try:
        from xiot.config import GlobalOptions, profile_names

        names = [row["profile"] for row in profile_names(GlobalOptions())]
    except Exception:  # completion must never print an error into the shell
        return []
    return [n for n in names if n.startswith(incomplete)]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xiot {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    profile: str | None = typer.Option(
        None, "--profile", help="Profile from the config file [env: XIOT_PROFILE].",
        autocompletion=lambda incomplete: _complete_profiles(incomplete)),
    config: Path | None = typer.Option(
        None, "--config", metavar="FILE", dir_okay=False,
        help="Config file instead of ~/.config/xiot/config.yaml [env: XIOT_CONFIG]."),
    jid: str | None = typer.Option(None, "--jid", help="JID to log in as [env: XIOT_JID]."),
    server: str | None = typer.Option(
        None, "--server", metavar="HOST[:PORT]",
        help="Where to connect instead of an SRV look-up [env: XIOT_SERVER]."),
    tls: TlsChoice | None = typer.Option(
        None, "--tls", metavar="MODE",
        help="auto, starttls, direct, or none: no TLS and the password in plaintext, only to "
        "a loopback --server (127.0.0.1, ::1, localhost) of a test server; warns; not for "
        "probe [env: XIOT_TLS]."),
    ca: Path | None = typer.Option(
        None, "--ca", metavar="FILE", help="PEM file of CA certificates to trust [env: XIOT_CA].",
        dir_okay=False),
    insecure: bool = typer.Option(
        False, "--insecure", help="Do not verify the TLS certificate (warns; never in "
        "production)."),
    timeout: float | None = typer.Option(
        None, "--timeout", metavar="SECONDS",
        help="Seconds any network wait may take [default: 10; env: XIOT_TIMEOUT]."),
    output: OutputChoice | None = typer.Option(
        None, "-o", "--output", metavar="FORMAT",
        help="table, json, ndjson or csv [default: table on a terminal, ndjson otherwise; "
        "env: XIOT_OUTPUT]; nagios and openmetrics for probe."),
    no_color: bool = typer.Option(False, "--no-color", help="No colour (NO_COLOR is honoured)."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True,
                                help="More detail on stderr (-vv for protocol debug)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """xiot: the command-line toolkit for XMPP-based IoT networks."""
    from xiot.config import GlobalOptions
    from xiot.runtime import Runtime

    options = GlobalOptions(
        profile=profile, config=config, jid=jid, server=server,
        tls=tls.value if tls else None, ca=ca, insecure=True if insecure else None,
        timeout=timeout, output=output.value if output else None,
        no_color=no_color, verbose=verbose, debug=debug,
    )
    # The shell passes its own runtime (live Session, its terminal) in as ``obj``.
    lent = ctx.obj if isinstance(ctx.obj, Runtime) else None
    ctx.obj = lent.with_options(options) if lent else Runtime(options=options)
    if lent is None:
        _configure_logging(verbose, debug)


class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.WARNING and not text.lower().startswith("warning"):
            text = f"warning: {text}"
        return f"xiot: {text}"


def _configure_logging(verbose: int, debug: bool) -> None:
    """Our messages on stderr; slixmpp's only when asked for, since it logs expected failures
    (a refused certificate, a closed port) as errors that we already report as one line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_StderrFormatter())
    xlog = logging.getLogger("xiot")
    xlog.handlers[:] = [handler]
    xlog.propagate = False
    xlog.setLevel(logging.DEBUG if verbose >= 2 or debug else
                  logging.INFO if verbose == 1 else logging.WARNING)
    root_logger = logging.getLogger()
    if verbose >= 2:
        from xiot.redact import RedactingFilter

        protocol = logging.StreamHandler(sys.stderr)
        protocol.addFilter(RedactingFilter())
        root_logger.handlers[:] = [protocol]
        root_logger.setLevel(logging.DEBUG)
        for name in ("slixmpp", "asyncio"):  # a quieter earlier run in this process set them
            logging.getLogger(name).setLevel(logging.NOTSET)
    else:
        logging.getLogger("slixmpp").setLevel(logging.CRITICAL + 1)
        logging.getLogger("asyncio").setLevel(logging.CRITICAL + 1)


def root_option_names(command: click.Command) -> tuple[set[str], set[str]]:
    """(options that take a value, flags) of the root command, read from its parameters.

    Derived rather than listed by hand, so a new root option is hoisted without anyone
    remembering to add it here.
    """
    values: set[str] = set()
    flags: set[str] = set()
    for param in command.params:
        if getattr(param, "param_type_name", "") != "option" or param.is_eager:
            continue
        names = {*param.opts, *param.secondary_opts}
        takes_value = not (getattr(param, "is_flag", False) or getattr(param, "count", False))
        (values if takes_value else flags).update(names)
    return values, flags


def hoist_global_options(args: list[str], command: click.Command | None = None) -> list[str]:
    """Move root options given after the command name in front of it.

    Operators type ``xiot readout dev@x -o json`` as often as ``xiot -o json readout``;
    both mean the same, so the root options are accepted anywhere before a ``--``.
    """
    root = command or typer.main.get_command(app)
    values, flags = root_option_names(root)
    head: list[str] = []
    i = 0
    while i < len(args) and args[i] not in COMMANDS:
        takes_value = args[i].split("=", 1)[0] in values and "=" not in args[i]
        head += args[i:i + 1 + takes_value]
        i += 1 + takes_value
    if i >= len(args):
        return list(args)
    # An option the invoked command defines itself (replay record's -o FILE) stays with it.
    own = own_option_names(root, args[i:])
    values, flags = values - own, flags - own
    short_values = {name for name in values if len(name) == 2}
    short_flags = {name for name in flags if len(name) == 2}

    def is_value_option(token: str) -> bool:
        return token.split("=", 1)[0] in values

    def is_attached(token: str) -> bool:  # -ojson, -vv
        if token.startswith("--") or len(token) <= 2:
            return False
        return token[:2] in short_values or all(f"-{c}" in short_flags for c in token[1:])

    moved: list[str] = []
    rest: list[str] = [args[i]]
    i += 1
    while i < len(args):
        token = args[i]
        if token == "--":
            rest += args[i:]
            break
        if is_value_option(token) and "=" not in token and i + 1 < len(args):
            moved += args[i:i + 2]
            i += 2
            continue
        if is_value_option(token) or token in flags or is_attached(token):
            moved.append(token)
        else:
            rest.append(token)
        i += 1
    return head + moved + rest


def own_option_names(root: click.Command, words: list[str]) -> set[str]:
    """The option names of the (sub)command ``words`` invoke, e.g. ``replay record``."""
    if not hasattr(root, "get_command"):
        return set()
    ctx = click.Context(root)
    current = root.get_command(ctx, words[0])
    for word in words[1:]:
        if not hasattr(current, "get_command"):
            break
        if word.startswith("-"):
            continue
        found = current.get_command(ctx, word)  # type: ignore[union-attr]
        if found is None:
            break
        current = found
    if current is None or current is root:
        return set()
    return {name for param in current.params if getattr(param, "param_type_name", "") ==
            "option" for name in (*param.opts, *param.secondary_opts)}


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the app and map every outcome to an exit code."""
    _skip_unused_imports()
    code = run(argv)
    sys.exit(code)


def _skip_unused_imports() -> None:
    """Keep slixmpp from importing aiodns and pygments in the command's process.

    slixmpp imports aiodns (and c-ares) whenever it is installed, for its own SRV and address
    look-ups, which xiot never uses (it plans endpoints itself and hands slixmpp an address);
    and pygments, to colour the XML of its debug log, which xiot keeps plain (it is
    redacted, and often piped).  Together ~30 ms of every readout.  Done here, for the
    console script only: a program that uses xiot as a library keeps whatever its own process
    imports.  (rich, which also uses pygments, needs it only for syntax highlighting and
    pretty tracebacks, neither of which xiot uses.)
    """
    for unused in ("aiodns", "pygments"):
        sys.modules.setdefault(unused, None)  # type: ignore[arg-type]


def run(argv: list[str] | None = None, runtime: Any = None) -> int:
    """Run ``xiot`` with ``argv`` and return the exit code instead of exiting.

    ``runtime`` (an ``xiot.runtime.Runtime``) is how the shell and replay run a command on
    their live Session and terminal: call this from a worker thread, never from the loop
    that Session lives on.
    """
    from xiot.errors import XiotError

    command = typer.main.get_command(app)
    readable_metavars(command)
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv), command)
    debug = "--debug" in args
    _say = runtime.env.say if runtime is not None else _say_stderr
    try:
        result = command.main(args=args, prog_name="xiot", standalone_mode=False,
                              obj=runtime)
    except XiotError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        _say(exc.one_line())
        return int(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:
        _say_raw(exc.ctx.get_help() if exc.ctx else "")
        return 2
    except click.exceptions.UsageError as exc:
        where = _command_names(exc.ctx)
        _say(f"error: {exc.format_message()} (see '{where} --help')")
        return 2
    except click.exceptions.ClickException as exc:
        _say(f"error: {exc.format_message()}")
        return exc.exit_code
    except typer.Abort:
        _say("interrupted")
        return 130
    except SystemExit as exc:  # typer exits by itself after a closed pipe
        return exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except Exception as exc:
        from xiot.output import OutputClosed

        if isinstance(exc, OutputClosed):
            _silence_stdout()  # the reader took what it wanted: not a failure
            return 0
        if debug:
            raise
        _say(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the "
             "traceback, and please report it)")
        return 1
    if result == 130:  # typer turns Ctrl-C into Exit(130) before we see it
        _say("interrupted")
    return result if isinstance(result, int) else 0


def _command_names(ctx: Any) -> str:
    """``xiot control set`` for a context, without the metavars click puts in command_path."""
    names = []
    while ctx is not None:
        names.append(ctx.info_name or "xiot")
        ctx = ctx.parent
    return " ".join(reversed(names)) or "xiot"


def _say_stderr(text: str) -> None:
    prefix = "" if text.startswith("xiot:") else "xiot: "
    sys.stderr.write(f"{prefix}{text}\n")
    sys.stderr.flush()


def _say_raw(text: str) -> None:
    sys.stderr.write(text + "\n")


def _silence_stdout() -> None:
    """After a closed pipe (``xiot ... | head``), make the interpreter's final flush quiet."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    main()
