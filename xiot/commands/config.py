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
