"""``xiot shell``: run many xiot commands over one live connection."""

from __future__ import annotations

import typer

from xiot.commands import common

app = common.typer_app()


@app.command(
    epilog="""\b
Examples:
  xiot --profile lab shell                         an interactive prompt (Tab completes)
  xiot --profile lab shell -c "ping; readout dev0001@xiot.test"
  xiot --profile lab shell < checks.txt            one command per line, '#' comments
  echo "use dev0001@xiot.test; readout; control set Output=true" | xiot shell
  xiot shell -c "readout dev0001@xiot.test --watch 5 --rounds 3 &; ping; wait 1"

\b
The shell logs in once and runs each command as 'xiot COMMAND' would, on that connection:
same options, output and error messages.  Commands are separated by newlines or ';'.  A
script (-c, or stdin that is not a terminal) stops at the first command that fails and
exits with its exit code.
Shell commands: help [COMMAND]; use [JID|-] (the default device of readout and control);
use SERVICE (a JID without '@': the service of pubsub commands); cd [NODE|/] (the default
node of pubsub commands); raw [--timeout S] XML (send a stanza, show the answer to an iq);
jobs; kill N; wait [N...] [--timeout S]; exit.
A command ending in '&' runs in the background as job N: its output is printed above the
prompt, one line per record, each prefixed with [N].  A script does not stop for a failed
job unless it waits for it ('wait N' exits with the job's code); jobs still running when the
shell ends are stopped.
History is kept in $XDG_STATE_HOME/xiot/history.""",
)
def shell(
    ctx: typer.Context,
    command: str | None = typer.Option(
        None, "-c", "--command", metavar="COMMANDS",
        help="Run these commands (';' or newline separated) and exit."),
) -> None:
    """Run xiot commands over one live connection: interactively, from -c, or from stdin."""
    rt = common.runtime(ctx)
    settings = common.settings(ctx)
    if command is not None or not rt.env.stdin_isatty:
        from xiot.shell.script import commands_of

        lines = command.splitlines() if command is not None else rt.env.stdin
        commands = list(commands_of(lines))
        from xiot.shell.engine import Shell, inherited_options

        shell_ = Shell(settings, rt.env)
        shell_.inherited = inherited_options(rt.options)

        async def script() -> int:
            if not commands:
                return 0
            await shell_.open()
            try:
                return await shell_.run_script(commands)
            finally:
                await shell_.close()

        code = rt.run(script)
    else:
        from xiot.shell.repl import interactive

        code = interactive(settings, rt)
    if code:
        raise typer.Exit(code)
