"""What every command shares: its runtime, the output sink, and the Typer conventions.

Commands reach everything through ``runtime(ctx)``: the settings, the terminal and the way to
run a library operation (with a Session the CLI opens, or the shell lends).  Output goes
through ``sink``/``emit_all``/``emit_one``, which take the format the runtime decided once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import typer

from xiot.config import GlobalOptions, Settings
from xiot.output import MONITORING_FORMATS, RECORD_FORMATS, Sink, open_sink, write_all
from xiot.runtime import Runtime


def typer_app(**kwargs: Any) -> typer.Typer:
    """A command group's Typer with the root's conventions: plain help (fast, and it pipes
    cleanly), -h as well as --help, and no per-group completion options."""
    kwargs.setdefault("rich_markup_mode", None)
    kwargs.setdefault("add_completion", False)
    kwargs.setdefault("pretty_exceptions_enable", False)
    kwargs.setdefault("context_settings", {"help_option_names": ["-h", "--help"],
                                           "max_content_width": 100})
    return typer.Typer(**kwargs)


def runtime(ctx: typer.Context) -> Runtime:
    """The runtime of this command, wherever in the command tree ``ctx`` is."""
    obj = ctx.find_root().obj
    if not isinstance(obj, Runtime):
        obj = Runtime()
        ctx.find_root().obj = obj
    return obj


def options(ctx: typer.Context) -> GlobalOptions:
    """The root options as given."""
    return runtime(ctx).options


def settings(ctx: typer.Context, monitoring_output: bool = False) -> Settings:
    """Resolved settings (flags > env > profile > defaults) for this run.

    The output format is checked first, so a bad ``-o`` fails before any network work;
    only ``probe`` passes ``monitoring_output`` to accept nagios and openmetrics.
    """
    output_format(ctx, RECORD_FORMATS + MONITORING_FORMATS if monitoring_output else None)
    return runtime(ctx).settings


def output_format(ctx: typer.Context, allowed: tuple[str, ...] | None = None) -> str:
    """The data format for this run (decided and validated once, by the runtime)."""
    return runtime(ctx).output_format(allowed)


def sink(
    ctx: typer.Context,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    single: bool = False,
    styles: Mapping[str, Mapping[str, str]] | None = None,
    autoflush: bool = True,
    group_by: Sequence[str] = (),
) -> Sink:
    """An output sink in the format the user asked for (or the TTY default).

    ``autoflush=False`` is for commands that emit records in groups and call ``flush()``.
    """
    rt = runtime(ctx)
    return open_sink(output_format(ctx), columns=columns, title=title, no_color=rt.no_color,
                     single=single, styles=styles, autoflush=autoflush, stream=rt.env.stdout,
                     group_by=group_by)


def emit_all(ctx: typer.Context, records: Iterable[Mapping[str, Any]], **sink_options: Any
             ) -> None:
    """Write a complete list of records in the chosen format."""
    write_all(sink(ctx, **sink_options), records)


def emit_one(ctx: typer.Context, record: Mapping[str, Any],
             notes: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Write one object: key/value rows in a table, the object itself in data formats.

    ``notes`` adds columns to the table rows only (``{"source": {key: where}}``), for what
    helps a person reading the table but is not part of the data.
    """
    if output_format(ctx) != "table":
        emit_all(ctx, [record], single=True)
        return
    from xiot.output import key_value_records

    rows = [row | {name: values.get(row["key"], "") for name, values in (notes or {}).items()}
            for row in key_value_records(record)]
    emit_all(ctx, rows)


def say(ctx: typer.Context, text: str) -> None:
    """One line for a person on the command's stderr."""
    runtime(ctx).env.say(text)
