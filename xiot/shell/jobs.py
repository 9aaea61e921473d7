"""Background jobs: ``readout DEV --watch 5 &`` runs beside the prompt as job N.

A job is an xiot command run like any other (``cli.run`` in a thread, on the shell's one
Session) but with a non-terminal ``Environment`` of its own: what it writes is cut into lines
(``joblines.LineStream``), queued, and printed by one printer task on the shell's loop, each
line prefixed ``[N]``.  In the REPL the shell's streams are prompt_toolkit's patched ones, so
the lines appear above the prompt and a half-typed line survives them.

While a command runs in the foreground at the terminal, job lines wait in their queues (a
live view redraws the screen, and lines between its frames would tear it).  Nothing a job
does can block the loop or the prompt: each job's queue is bounded (the oldest lines give
way, and the printer says how many), and the printer writes at most ``BATCH`` lines of a job
per turn.  Each job has its own thread (a busy job never delays a foreground command's) and
its own set of running futures, so Ctrl-C on a foreground command never touches it;
``kill N`` cancels it the way Ctrl-C cancels a foreground command (exit 130).
"""

from __future__ import annotations

import asyncio
import shlex
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xiot.errors import Timeout, UsageError
from xiot.runtime import Environment
from xiot.shell.joblines import LineStream, explicit_format, shown_line

if TYPE_CHECKING:
    from xiot.shell.engine import Shell, _Running

#: Lines a job may have waiting for the terminal; beyond, the oldest are dropped.
QUEUE = 2000
#: Lines of one job printed per turn of the printer (a turn every ``PAUSE`` seconds).
BATCH = 200
PAUSE = 0.05
#: Background jobs running at once.
MAX_RUNNING = 32
#: Finished jobs kept for ``jobs`` and ``wait N``.
KEEP_FINISHED = 100
#: How long ``exit`` (or the end of a script) waits for stopped jobs to end.
STOP_WAIT = 5.0


@dataclass(eq=False)
class Job:
    """One background command: its number, words, state and the lines it has printed."""

    id: int
    command: str
    running: _Running
    readable: bool
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    code: int | None = None
    stopping: bool = False
    printed: int = 0
    last_error: str | None = None
    task: asyncio.Future[int] | None = None
    pending: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=QUEUE))
    dropped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def state(self) -> str:
        if self.code is None:
            return "running"
        if self.stopping:
            return "stopped"
        return "done" if self.code == 0 else "failed"

    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started


class Jobs:
    """The shell's background jobs and the printer that shows their lines."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.table: dict[int, Job] = {}
        self._next = 1
        self._wake: asyncio.Event | None = None
        self._printer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def watching_pubsub(self) -> bool:
        """Whether a running job is a ``pubsub watch``, which prints the notifications."""
        return any(job.state == "running" and job.command.split()[:2] == ["pubsub", "watch"]
                   for job in self.table.values())

    # ------------------------------------------------------------------ starting

    def start(self, words: Sequence[str], argv: list[str],
              run: Callable[[list[str], Any], int]) -> Job:
        """Start ``argv`` as the next job; ``run(argv, runtime)`` is ``cli.run``."""
        from xiot.shell.engine import ShellRuntime, _Running

        if len(self.running()) >= MAX_RUNNING:
            raise UsageError(f"{MAX_RUNNING} background jobs are running already",
                             "Stop some with 'kill N' ('jobs' lists them)")
        self._loop = asyncio.get_running_loop()
        job = Job(self._next, shlex.join(words), _Running(),
                  readable=not explicit_format(argv, self.shell.inherited))
        self._next += 1
        out, err = LineStream(lambda line: self._queue(job, "out", line)), LineStream(
            lambda line: self._queue(job, "err", line))
        env = Environment(stdin=_NoInput(), stdout=out, stderr=err, stdout_isatty=False,
                          stderr_isatty=False, stdin_isatty=False, no_color=True)
        assert self.shell.session is not None and self.shell.loop is not None
        runtime = ShellRuntime(env=env, running=job.running, relend=self.shell.next_session
                               ).lend(self.shell.session, self.shell.loop)
        self.table[job.id] = job
        self._forget_old()
        self.shell.env.stderr.write(f"[{job.id}] {job.command}\n")
        self.shell.env.stderr.flush()
        self._ensure_printer()
        job.task = asyncio.ensure_future(self._run(job, argv, runtime, run, (out, err)))
        return job

    async def _run(self, job: Job, argv: list[str], runtime: Any,
                   run: Callable[[list[str], Any], int], streams: tuple[LineStream, ...]
                   ) -> int:
        code = 130
        try:
            code = await _in_thread(lambda: run(argv, runtime), f"xiot-job-{job.id}")
        except BaseException:  # the shell's loop is going away: the job is over too
            job.stopping = True
            raise
        finally:
            for stream in streams:
                stream.finish()
            job.code = code
            job.ended = time.monotonic()
            self._queue(job, "end", self._end_line(job))
        return code

    def _end_line(self, job: Job) -> str:
        if job.state == "stopped":
            return f"stopped {job.command}"
        line = f"{job.state} (exit {job.code}) {job.command}"
        return line + (f": {job.last_error}" if job.state == "failed" and job.last_error
                       else "")

    def _forget_old(self) -> None:
        finished = [j for j in self.table.values() if j.code is not None]
        for job in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del self.table[job.id]

    # ------------------------------------------------------------------ the printer

    def _queue(self, job: Job, stream: str, line: str) -> None:
        """Queue one line of ``job`` (any thread); the printer is woken if it sleeps."""
        if stream == "err":
            text = line.removeprefix("xiot: ")
            if job.stopping and text == "interrupted":
                return  # 'kill' said it: the end line says "stopped"
            if text:
                job.last_error = text
        elif stream == "out":
            job.last_error = None  # it went on after that: not what it failed of
        with job.lock:
            was_empty = not job.pending
            if len(job.pending) == QUEUE:
                job.dropped += 1
            job.pending.append((stream, line))
        # Only an empty queue needs a wake-up: the printer takes the rest on its next turns.
        if was_empty and self._wake is not None and self._loop is not None:
            _call_soon(self._loop, self._wake.set)

    def _ensure_printer(self) -> None:
        if self._printer is None or self._printer.done():
            self._wake = asyncio.Event()
            self._printer = asyncio.ensure_future(self._print_forever())

    async def _print_forever(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            if self._held():
                await asyncio.sleep(PAUSE)
                continue
            self._wake.clear()
            if self.print_pending():
                self._wake.set()  # more is waiting: another turn after the pause
            await asyncio.sleep(PAUSE)

    def _held(self) -> bool:
        """At the terminal, a command in the foreground owns the screen (a live view redraws
        it): job lines wait in their queues until the prompt is back."""
        return self.shell.env.stdout_isatty and bool(self.shell.running.futures)

    def print_pending(self, batch: int = BATCH) -> bool:
        """Print up to ``batch`` queued lines of each job; True if some are still waiting."""
        more = False
        for job in list(self.table.values()):
            with job.lock:
                taken = [job.pending.popleft() for _ in range(min(batch, len(job.pending)))]
                dropped, job.dropped = job.dropped, 0
                more = more or bool(job.pending)
            if dropped:
                taken.insert(0, ("err", f"... {dropped} lines left out: more output than "
                                        "the terminal can take"))
            self._write(job, taken)
        return more

    def _write(self, job: Job, lines: list[tuple[str, str]]) -> None:
        env = self.shell.env
        prefix = f"[{job.id}] "
        for stream, line in lines:
            text = shown_line(line, job.readable) if stream == "out" else _safe(line)
            target = env.stdout if stream == "out" else env.stderr
            target.write(prefix + text + "\n")
            job.printed += stream != "end"
        if lines:
            env.stdout.flush()
            env.stderr.flush()

    # ------------------------------------------------------------------ built-ins

    def running(self) -> list[Job]:
        return [job for job in self.table.values() if job.code is None]

    def find(self, word: str) -> Job:
        """The job ``N`` or ``%N`` names (a usage error if there is none)."""
        number = word.removeprefix("%")
        if not number.isdigit() or int(number) not in self.table:
            raise UsageError(f"no job {word}", "'jobs' lists the background jobs")
        return self.table[int(number)]

    def listing(self) -> list[str]:
        """The lines ``jobs`` prints: id, state, elapsed time, lines printed, command."""
        if not self.table:
            return ["no background jobs"]
        lines = []
        for job in self.table.values():
            state = job.state if job.code is None or job.stopping else (
                f"{job.state} ({job.code})")
            lines.append(f"[{job.id}]  {state:<11} {_duration(job.elapsed()):>7}  "
                         f"{job.printed:>6} lines  {job.command}")
        return lines

    async def kill(self, jobs: Sequence[Job], wait: float = STOP_WAIT) -> int:
        """Cancel ``jobs`` as Ctrl-C would; wait (bounded) for them to end; how many were."""
        alive = [job for job in jobs if job.code is None]
        for job in alive:
            job.stopping = True
            job.running.stop()
        tasks = [job.task for job in alive if job.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=wait)
        self.print_pending(batch=QUEUE)
        return len(alive)

    async def wait(self, jobs: Sequence[Job], timeout: float | None, named: bool = True
                   ) -> int:
        """Wait for ``jobs`` to end.  For jobs named by number: the first non-zero exit code
        among them, else 0; for all jobs (``wait`` alone) 0, as in a POSIX shell."""
        tasks = [job.task for job in jobs if job.task is not None and not job.task.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            if pending:
                still = [str(j.id) for j in jobs if j.code is None]
                raise Timeout(f"wait: job{'s' if len(still) > 1 else ''} {', '.join(still)} "
                              f"still running after {timeout:g} s",
                              "'jobs' lists them, 'kill N' stops one")
        self.print_pending(batch=QUEUE)
        if not named:
            return 0
        return next((job.code for job in jobs if job.code), 0) or 0

    async def close(self) -> int:
        """Stop the jobs still running (exit, Ctrl-D, the end of a script); how many."""
        stopped = await self.kill(self.running())
        if self._printer is not None:
            self._printer.cancel()
        self.print_pending(batch=QUEUE)
        return stopped


class _NoInput:
    """A job's stdin: a background job reads nothing from the terminal."""

    def read(self, *_: Any) -> str:
        return ""

    def readline(self, *_: Any) -> str:
        return ""

    def __iter__(self) -> Any:
        return iter(())

    def isatty(self) -> bool:
        return False


def _safe(text: str) -> str:
    from xiot.output import terminal_safe

    return terminal_safe(text)


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _in_thread(work: Callable[[], int], name: str) -> asyncio.Future[int]:
    """``work()`` in a thread of its own (not the loop's shared pool, which a few long jobs
    would fill, making a foreground command wait); a daemon, so it never holds up exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def target() -> None:
        try:
            result = work()
        except BaseException as exc:  # handed to the loop, raised where the job is awaited
            _call_soon(loop, settle, None, exc)
        else:
            _call_soon(loop, settle, result, None)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


def _call_soon(loop: asyncio.AbstractEventLoop, *args: Any) -> None:
    if not loop.is_closed():
        loop.call_soon_threadsafe(*args)


async def job_builtin(shell: Shell, name: str, args: list[str]) -> int:
    """``jobs``, ``kill N...`` and ``wait [N...] [--timeout S]``."""
    jobs = shell.jobs
    if name == "jobs":
        if args:
            raise UsageError("jobs takes no arguments")
        shell.env.stdout.write("".join(line + "\n" for line in jobs.listing()))
        shell.env.stdout.flush()
        return 0
    timeout, words = _timeout(args) if name == "wait" else (None, args)
    chosen = [jobs.find(word) for word in words]
    if name == "kill":
        if not chosen:
            raise UsageError("kill needs a job number", "kill 1 (or kill %1); 'jobs' lists them")
        ended = [job for job in chosen if job.code is not None]
        await jobs.kill(chosen)  # those still running
        for job in ended:
            shell.env.say(f"kill: job {job.id} had already ended ({job.state})")
        return 1 if ended else 0
    return await jobs.wait(chosen or jobs.running(), timeout, named=bool(chosen))


def _timeout(args: list[str]) -> tuple[float | None, list[str]]:
    """``--timeout S`` (anywhere among the job numbers) and the rest."""
    rest: list[str] = []
    timeout: float | None = None
    words = iter(args)
    for word in words:
        if word == "--timeout" or word.startswith("--timeout="):
            value = word.partition("=")[2] or next(words, "")
            try:
                timeout = float(value)
            except ValueError:
                raise UsageError(f"--timeout: '{value}' is not a number",
                                 "wait 1 --timeout 30") from None
            if timeout <= 0:
                raise UsageError("--timeout must be more than 0 seconds")
        else:
            rest.append(word)
    return timeout, rest
