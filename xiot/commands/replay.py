"""``xiot replay``: run scripted XMPP exchanges as tests (run, lint, schema)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from xiot.commands import common, options

if TYPE_CHECKING:
    from xiot.replay.model import Actor, Scenario
    from xiot.replay.runner import Account

app = common.typer_app(
    help="Replay scripted XMPP exchanges as tests (YAML scenarios or scansion .scs).",
    no_args_is_help=True,
    epilog="""\b
Examples:
  xiot replay run scenarios/                      every *.yaml under scenarios/
  xiot replay run scenarios/ --jobs 4 --junit replay.xml
  xiot replay lint scenarios/*.yaml               check files without connecting
  xiot replay schema > replay.schema.json         for editors

  xiot replay import suite/*.scs -d scenarios/    scansion scripts to YAML
  xiot replay record -a admin=lab -o ping.yaml    what you do, as a scenario

A scenario names its actors (a profile, or an 'account' of a lab) and its steps: connect,
send, expect, expect-none, disconnect, wait, set.  Passwords never appear in scenarios.""",
)

_SUFFIXES = (".yaml", ".yml", ".scs")


def _files(paths: list[Path]) -> list[Path]:
    """Files as given, directories as the scenario files under them (sorted)."""
    from xiot.errors import UsageError

    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"{path}: no such file or directory")
    if not found:
        raise UsageError("no scenario files found", "Give .yaml files or directories "
                                                    "that hold them")
    return found


def _load(path: Path) -> Scenario:
    """A YAML scenario, or a scansion script (by its .scs suffix)."""
    if path.suffix == ".scs":
        from xiot.replay.scansion import load_scs

        return load_scs(path)
    from xiot.replay.model import load

    return load(path)


def _load_all(paths: list[Path]) -> list[Scenario]:
    return [_load(path) for path in _files(paths)]


def _credentials(ctx: typer.Context, default_lab: str | None):  # type: ignore[no-untyped-def]
    """Actor -> Account: a profile's settings, a lab account's password, or the current
    profile (each actor then a resource of the same account)."""
    from dataclasses import replace

    from xiot.errors import ConfigError
    from xiot.replay.runner import Account
    from xiot.runtime import settings_for

    rt = common.runtime(ctx)

    def resolve(scenario: Scenario, actor: Actor) -> Account:
        if actor.account:
            from xiot.lab import manager

            name = actor.lab or scenario.lab or default_lab or rt.settings.profile or "lab"
            lab = manager.require(name)
            account = next((a for a in manager.accounts(lab) if a.user == actor.account), None)
            if account is None:
                raise ConfigError(f"{actor.where()}: lab '{name}' has no account "
                                  f"'{actor.account}'", "See 'xiot lab accounts'")
            settings = replace(rt.settings, jid=account.jid, host=lab.host,
                               port=lab.ports["c2s"], tls=lab.tls,
                               ca=None if lab.open else lab.ca_file, insecure=False)
            return Account(settings, account.password)
        if actor.jid:  # a scansion character, or a JID with the profile's password source
            settings = replace(rt.settings, jid=actor.jid)
            if actor.host:
                settings = replace(settings, host=actor.host, port=actor.port)
            return Account(settings, actor.password)
        if actor.profile:
            return Account(settings_for(replace(rt.options, profile=actor.profile, jid=None)))
        return Account(rt.settings)

    return resolve


@app.command(
    epilog="""\b
Examples:
  xiot --profile lab replay run scenarios/
  xiot replay run scenarios/ --lab testlab --jobs 4 --junit out/replay.xml
  xiot replay run ping.yaml -o json | jq '.[].status'
  xiot replay run scenarios/ --tap --skip-tags slow

Actors with 'account: NAME' log in as that account of a lab (--lab, the scenario's 'lab:',
or the current profile's name); 'profile: NAME' uses a profile; an actor with neither uses
the current profile.  On a failure the step, its file:line, the expected stanza against the
closest one received (a unified diff) and what else arrived are shown.  Scansion
scripts (.scs) run as they are, with the passwords they declare.

\b
Exit status: 0 all passed or skipped, 1 a scenario failed, 2 an invalid scenario.""",
)
def run(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., metavar="FILES|DIRS...",
                                       help="Scenario files, or directories of them."),
    jobs: int = typer.Option(1, "-j", "--jobs", min=1, max=64, metavar="N",
                             help="Scenarios run at once."),
    junit: Path | None = typer.Option(None, "--junit", metavar="FILE", show_default=False,
                                      help="Also write a JUnit XML report to FILE."),
    tap: bool = typer.Option(False, "--tap", help="Write TAP instead of the table."),
    lab: str | None = typer.Option(None, "--lab", metavar="NAME", show_default=False,
                                   help="Lab whose accounts 'account:' actors use."),
    step_timeout: float | None = typer.Option(
        None, "--step-timeout", min=0.1, metavar="SECONDS", show_default=False,
        help="Default wait of an expect step [default: the --timeout setting]."),
    only_tags: str | None = options.comma_list("--only-tags", help="Run only scenarios "
                                               "with one of these tags."),
    skip_tags: str | None = options.comma_list("--skip-tags", help="Skip scenarios with "
                                               "one of these tags."),
    verbose_steps: bool = typer.Option(False, "--steps", help="List every step's outcome."),
) -> None:
    """Run scenarios against a server and report per step: ok, fail or skip, with timing."""
    from xiot.output import to_json
    from xiot.replay import report
    from xiot.replay.runner import RunOptions, run_all

    fmt = common.output_format(ctx, ("table", "json", "ndjson"))
    scenarios = _load_all(paths)
    rt = common.runtime(ctx)
    for scenario in scenarios:
        for warning in scenario.warnings:
            common.say(ctx, f"warning: {warning}")
    run_options = RunOptions(step_timeout=step_timeout or rt.settings.timeout,
                             only_tags=tuple(only_tags or ()),
                             skip_tags=tuple(skip_tags or ()))
    credentials = _credentials(ctx, lab)
    by_file = {(s.file, s.name): i for i, s in enumerate(scenarios)}

    async def collect() -> list:  # type: ignore[type-arg]
        results = []
        async for result in run_all(scenarios, credentials, run_options, jobs):
            results.append(result)
            if fmt == "ndjson" and not tap:
                rt.env.stdout.write(to_json(result.to_record()) + "\n")
                rt.env.stdout.flush()
        return sorted(results, key=lambda r: by_file.get((r.file, r.name), 0))

    results = rt.run(collect)
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(report.junit(results), encoding="utf-8")
    if tap:
        rt.env.stdout.write(report.tap(results))
    elif fmt == "json":
        rt.env.stdout.write(to_json([r.to_record() for r in results], indent=2) + "\n")
    elif fmt == "table":
        rt.env.stdout.write(report.text(results, verbose_steps))
    else:
        common.say(ctx, report.summary(results))
    rt.env.stdout.flush()
    if any(r.status == "fail" for r in results):
        raise typer.Exit(1)


@app.command(
    epilog="""\b
Examples:
  xiot replay record --actor admin=lab -o ping.yaml
  xiot replay record -a alice=alice-profile -a bob=bob-profile -o chat.yaml < session.txt
  xiot --profile lab replay record -a admin -a dev=account:dev0001 -o readout.yaml

Logs the actors in, then runs what is typed (or piped in), one command per line:
'NAME: COMMAND' runs COMMAND as actor NAME, a line without 'NAME:' as the first actor.
COMMAND is anything the shell runs ('raw <iq .../>' for a stanza, 'readout dev@x', 'pubsub
publish ...'); ${NAME.full_jid}, ${NAME.jid} and ${NAME.domain} are replaced first.  Also:
'wait SECONDS' (let answers arrive), 'disconnect NAME', 'actors', 'help'.

Every stanza the actors send and receive is written to FILE as a scenario: their JIDs as
variables, ids the server chose, times, roster versions and sensor values as {any}, a value
sent back later as a capture, passwords and tokens as REDACTED; answers the client library
gives by itself (roster push acknowledgements, disco and ping answers) are left out.  FILE
is rewritten as the recording grows, so Ctrl-C or a lost connection keep what was recorded.
--actor NAME=account:USER logs in as an account of a lab (--lab, or the profile's name).

\b
Exit status: 0, or a piped command's failure (the recording stops there and is kept),
4 if an actor's connection is lost, 130 on Ctrl-C.""",
)
def record(
    ctx: typer.Context,
    actors: list[str] = typer.Option(
        None, "-a", "--actor", metavar="NAME[=PROFILE]", show_default=False,
        help="An actor: a name, and a profile (or account:USER of a lab) to log in as; "
             "repeat for more.  [default: one actor, 'client', as the current profile]"),
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE",
                                help="The scenario file to write."),
    name: str | None = typer.Option(None, "--name", metavar="TEXT", show_default=False,
                                    help="The scenario's name [default: recorded DATE]."),
    lab: str | None = typer.Option(None, "--lab", metavar="NAME", show_default=False,
                                   help="Lab whose accounts 'account:' actors use."),
    settle: float = typer.Option(1.0, "--settle", min=0, max=60, metavar="SECONDS",
                                 help="How long to keep recording after the input ends."),
    force: bool = typer.Option(False, "--force", help="Overwrite FILE if it exists."),
) -> None:
    """Record what actors send and receive while you drive them, as a scenario."""
    import asyncio
    import time

    from xiot.commands.replay_record import Recorder, accounts_for, feed, parse_actor, unique
    from xiot.errors import UsageError

    rt = common.runtime(ctx)
    specs = unique([parse_actor(text) for text in actors or ["client"]])
    if output.exists() and not force:
        raise UsageError(f"{output} exists", "Use --force to overwrite it, or another -o FILE")
    if output.is_dir():
        raise UsageError(f"{output} is a directory", "Give a file name: -o DIR/NAME.yaml")
    accounts = accounts_for(specs, _credentials(ctx, lab))
    title = name or f"recorded {time.strftime('%Y-%m-%d %H:%M')}"
    recorder = Recorder(rt, accounts, specs, output, title, settle)

    async def work() -> int:
        return await recorder.run(feed(rt.env.stdin, asyncio.get_running_loop()))

    code = rt.run(work)
    if code:
        raise typer.Exit(code)


@app.command(
    epilog="""\b
Examples:
  xiot replay lint scenarios/
  xiot replay lint ping.yaml roster.yaml

Checks every file without connecting: the YAML and the schema, XML well-formedness, actors
and variables used before they are defined, and (as warnings) actors and variables that are
defined but never used.  Each problem is one line, file:line first.
Exit status: 0 clean (warnings allowed), 2 if any file is invalid.""",
)
def lint(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., metavar="FILES|DIRS...",
                                       help="Scenario files, or directories of them."),
) -> None:
    """Check scenario files and report each problem with its file:line."""
    from xiot.errors import UsageError

    rt = common.runtime(ctx)
    bad = 0
    for path in _files(paths):
        try:
            scenario = _load(path)
        except UsageError as exc:
            bad += 1
            rt.env.stdout.write(f"{exc.message}\n")
            continue
        for warning in scenario.warnings:
            rt.env.stdout.write(f"{warning} (warning)\n")
    rt.env.stdout.flush()
    if bad:
        common.say(ctx, f"{bad} invalid scenario file{'s' if bad != 1 else ''}")
        raise typer.Exit(2)


@app.command(
    epilog="""\b
Examples:
  xiot replay schema > replay.schema.json
  # VS Code (redhat.vscode-yaml): "yaml.schemas": {"replay.schema.json": "scenarios/*.yaml"}""",
)
def schema(ctx: typer.Context) -> None:
    """Print the JSON Schema of the scenario format."""
    from xiot.output import to_json
    from xiot.replay.schema import schema as make

    rt = common.runtime(ctx)
    rt.env.stdout.write(to_json(make(), indent=2) + "\n")
    rt.env.stdout.flush()


@app.command("import", epilog="""\b
Examples:
  xiot replay import suite/*.scs -d scenarios/     one .yaml per script, beside each other
  xiot replay import presence.scs                  the YAML on stdout

Characters become actors with their 'jid' (and resource, connect_host, connect_port);
passwords are not written: the YAML takes the password from the current profile's source
(scansion's test servers accept any).  ${Name's full JID} becomes ${name.full_jid},
{scansion:any} {any}, {scansion:capture:X} {capture:X}; scansion:strict is kept.
'xiot replay run' also runs .scs files directly, with their own passwords.""")
def import_(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., metavar="FILE.scs...", help="Scansion scripts."),
    directory: Path | None = typer.Option(None, "-d", "--directory", metavar="DIR",
                                          show_default=False,
                                          help="Write NAME.yaml files into DIR instead of "
                                               "printing them."),
) -> None:
    """Convert scansion scripts (.scs) to replay YAML."""
    from xiot.replay.scansion import load_scs, to_yaml

    rt = common.runtime(ctx)
    converted = [(path, to_yaml(load_scs(path))) for path in _files(paths)]
    for path, text in converted:
        if directory is None:
            rt.env.stdout.write(("---\n" if len(converted) > 1 else "") + text)
            continue
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / (path.stem + ".yaml")
        target.write_text(text, encoding="utf-8")
        common.say(ctx, f"{path} -> {target}")
    rt.env.stdout.flush()


@app.command("export", epilog="""\b
Examples:
  xiot replay export scenarios/ping.yaml > ping.scs

Steps scansion cannot express (wait, set, ${run.id}, requires, timeouts, strict:, an
expect-none filter) are refused with their file:line.  Actors without a 'jid' get a comment
where scansion wants one; passwords are written as the placeholder 'password'.""")
def export(
    ctx: typer.Context,
    path: Path = typer.Argument(..., metavar="FILE.yaml", help="A replay scenario."),
) -> None:
    """Convert a replay scenario to a scansion script (.scs) on stdout."""
    from xiot.replay.scansion import to_scs

    rt = common.runtime(ctx)
    rt.env.stdout.write(to_scs(_load(path)))
    rt.env.stdout.flush()
