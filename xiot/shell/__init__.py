"""``xiot shell``: many xiot commands over one live, authenticated connection.

The shell parses nothing of its own beyond splitting lines into commands: every command is
the same typer command the CLI runs, run in process by ``xiot.cli.run`` with a runtime that
lends it the shell's Session and event loop (see ``xiot.runtime``).  ``script`` splits input
into commands, ``engine`` runs them (built-ins, context, Ctrl-C), ``jobs`` runs those ending
in ``&`` in the background (``joblines`` makes their output readable lines), ``repl`` is the
interactive prompt and ``completion`` its Tab completion.  prompt_toolkit is imported only by the
interactive parts, so ``xiot shell -c`` starts as fast as any command.
"""
