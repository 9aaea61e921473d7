"""``xiot config``: what xiot will use, and where it came from."""

from __future__ import annotations

import typer

from xiot.commands import common

app = common.typer_app(
    help="Show resolved settings and the configured profiles.",
    no_args_is_help=True,
    epilog="""\b
Examples:
  xiot config show                        what the next command would use, and from where
  xiot --profile lab config show -o json | jq .server
  xiot config profiles                    every profile in config.yaml and config.d/""")


@app.command("show", epilog="""\b
Examples:
  xiot config show
  xiot --profile lab config show -o json | jq .server""")
def show(ctx: typer.Context) -> None:
    """Print the resolved settings (flags > XIOT_* env > profile > defaults), secret hidden."""
    cfg = common.settings(ctx)
    common.emit_one(ctx, cfg.to_record(), notes={"source": cfg.sources})


@app.command("profiles", epilog="""\b
Examples:
  xiot config profiles
  xiot config profiles -o json | jq -r '.[].profile'

\b
Profiles live in ~/.config/xiot/config.yaml and ~/.config/xiot/config.d/*.yaml
(XDG_CONFIG_HOME is honoured; --config FILE reads one file instead).""")
def profiles(ctx: typer.Context) -> None:
    """List the configured profiles (no secrets)."""
    from xiot.config import profile_names

    common.emit_all(ctx, profile_names(common.options(ctx)),
                    columns=("profile", "default", "jid", "server", "tls", "file"))


@app.command("use", epilog="""\b
Examples:
  xiot config use lab           every command now uses the 'lab' profile by default
  xiot config use ops           switch to another
  xiot config use --clear       back to default_profile from the config files

\b
--profile and XIOT_PROFILE still win for one command.  The name is kept in
$XDG_CONFIG_HOME/xiot/current-profile.""")
def use(
    ctx: typer.Context,
    profile: str | None = typer.Argument(
        None, metavar="PROFILE", help="Profile to make current.",
        autocompletion=lambda incomplete: _profiles(incomplete)),
    clear: bool = typer.Option(False, "--clear", help="Forget the current profile."),
) -> None:
    """Make a profile the current one, used when no --profile or XIOT_PROFILE is given."""
    from xiot.config.files import write_current_profile
    from xiot.config.settings import profile_names
    from xiot.errors import UsageError

    if clear == (profile is not None):
        raise UsageError("give a PROFILE or --clear", "For example: xiot config use lab")
    if clear:
        write_current_profile(None)
        common.say(ctx, "no current profile; default_profile from the config files applies")
        return
    known = [row["profile"] for row in profile_names(common.options(ctx))]
    if profile not in known:
        from xiot.errors import ConfigError

        raise ConfigError(f"unknown profile '{profile}' (known: {', '.join(known) or 'none'})",
                          "Run 'xiot config profiles', or 'xiot lab up' for the 'lab' profile")
    path = write_current_profile(profile)
    common.say(ctx, f"current profile: {profile} (kept in {path})")


def _profiles(incomplete: str) -> list[str]:
    from xiot.cli import _complete_profiles

    return _complete_profiles(incomplete)
