"""What every command shares: settings from the root options, running a coroutine, output."""

from __future__ import annotations

from collections.abc import Coroutine, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import typer

from xiot.config import GlobalOptions, Settings, resolve
from xiot.output import Sink, choose_format, open_sink

T = TypeVar("T")

#: Formats only ``xiot probe`` renders: they summarise a whole run rather than list records.
MONITORING_FORMATS = ("nagios", "openmetrics")


def typer_app(**kwargs: Any) -> typer.Typer:
    """A command group's Typer with the root's conventions: plain help (fast, and it pipes
    cleanly), -h as well as --help, and no per-group completion options."""
    kwargs.setdefault("rich_markup_mode", None)
    kwargs.setdefault("add_completion", False)
    kwargs.setdefault("pretty_exceptions_enable", False)
    kwargs.setdefault("context_settings", {"help_option_names": ["-h", "--help"],
                                           "max_content_width": 100})
    return typer.Typer(**kwargs)


def options(ctx: typer.Context) -> GlobalOptions:
    """The root options, wherever in the command tree ``ctx`` is."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, GlobalOptions) else GlobalOptions()


def settings(ctx: typer.Context, monitoring_output: bool = False) -> Settings:
    """Resolved settings (flags > env > profile > defaults) for this run.

    The output format is checked here too, so a bad ``-o`` fails before any network work;
    only ``probe`` passes ``monitoring_output`` to accept nagios and openmetrics.
    """
    if not monitoring_output:
        output_format(ctx)
    return resolve(options(ctx))


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion; Ctrl-C propagates as KeyboardInterrupt (exit 130)."""
    import asyncio

    return asyncio.run(coro)


def sink(
    ctx: typer.Context,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    single: bool = False,
    styles: Mapping[str, Mapping[str, str]] | None = None,
    autoflush: bool = True,
) -> Sink:
    """An output sink in the format the user asked for (or the TTY default).

    ``autoflush=False`` is for commands that emit records in groups and call ``flush()``.
    """
    opts = options(ctx)
    fmt = output_format(ctx)
    return open_sink(fmt, columns=columns, title=title, no_color=opts.no_color,
                     single=single, styles=styles, autoflush=autoflush)


def emit_all(ctx: typer.Context, records: Iterable[Mapping[str, Any]], **sink_options: Any
             ) -> None:
    """Write a complete list of records in the chosen format."""
    out = sink(ctx, **sink_options)
    try:
        for record in records:
            out.emit(record)
    finally:
        out.close()


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


def output_format(ctx: typer.Context) -> str:
    """The data format for this run; a monitoring format outside 'probe' is a usage error.

    Commands that connect before printing call this first, so a bad -o is reported before
    any network work.
    """
    fmt = choose_format(options(ctx).output or env_output())
    if fmt in MONITORING_FORMATS:
        from xiot.errors import UsageError

        raise UsageError(f"-o {fmt} is only available for 'xiot probe'",
                         "Use table, json, ndjson or csv")
    return fmt


def env_output() -> str | None:
    """``XIOT_OUTPUT``, if set: the format when no ``-o`` is given."""
    import os

    value = os.environ.get("XIOT_OUTPUT")
    return value or None
