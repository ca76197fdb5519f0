"""A foreign implementation as a child process speaking the JSON-lines protocol.

Everything that can go wrong with someone else's program becomes an
`ImplementationFailed` with one clear sentence (and the tail of its stderr): it
could not start, it exited, it did not answer in time, or it printed something
that is not a protocol response.

Requests are pipelined: `send` queues a run's requests and they are written ahead of
the answers, at most `WINDOW` bytes not yet answered at a time. An implementation has
read every request it answered, so its stdin never holds more than the window, which a
pipe always takes: the driver cannot block writing while the implementation blocks
writing an answer nobody reads. A round trip per request cost more than the checking
(a third of the drives' time was the two processes waking each other).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import tempfile
import time
from collections import deque
from typing import Sequence

from opsref.conformance.calls import BadInput, InputError, validate_result
from opsref.conformance.jsonline import MAX_LINE_BYTES, BadJson, JsonObject, LineReader, LineTooLong, decode


class ImplementationFailed(Exception):
    """The implementation misbehaved (crash, hang, garbage): a finding, not a divergence."""


class CannotStart(InputError):
    """The command could not be started at all (a usage problem)."""


#: bytes of requests written and not yet answered, at most: below any pipe's capacity
#: (a page: Linux and macOS pipes hold at least that), so a write never waits on a reader
WINDOW = 4096


class Implementation:
    def __init__(self, command: Sequence[str], timeout: float = 5.0, line_limit: int = MAX_LINE_BYTES) -> None:
        self.command = list(command)
        self.timeout = timeout
        self.requests = 0           # requests written
        self._answered = 0          # answers read
        self._call = ""             # the call of the answer read last, or awaited
        self._queued: deque[tuple[str, bytes]] = deque()    # (call, line) not written yet
        self._in_flight: deque[tuple[str, int]] = deque()   # (call, line length) written, not answered
        self._in_flight_bytes = 0
        self._unwritable: ImplementationFailed | None = None  # its stdin closed: reported at that request's turn
        self._after_stop: ImplementationFailed | None = None  # it failed on a request sent past a mismatch
        self._deadline = 0.0
        self._waited = False        # verify_quiet has waited its grace once
        self._ended_output = False  # its stdout reached its end
        self._failed = False        # a failure was reported: `close` does not wait for it to exit
        self._stderr = tempfile.TemporaryFile()
        try:
            # its own process group, so that everything it starts (a wrapper script's child,
            # a forked server) is ended with it
            self._proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=self._stderr, bufsize=0, start_new_session=True)
        except OSError as err:
            raise CannotStart(f"cannot start {' '.join(self.command)}: {err.strerror or err}") from None
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin = self._proc.stdin
        self._stdout = self._proc.stdout.fileno()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._stdout, selectors.EVENT_READ)
        self._lines = LineReader(self._chunk, line_limit)

    def __enter__(self) -> "Implementation":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._stdin.close()
        except OSError:
            pass
        try:  # end of input means exit: a moment to do so, unless it already failed (hung, say)
            self._proc.wait(timeout=0 if self._failed else 2)
        except subprocess.TimeoutExpired:
            pass
        self._end_group()
        self._selector.close()
        self._proc.stdout.close() if self._proc.stdout else None
        self._stderr.close()

    def _end_group(self) -> None:
        """Kill the implementation's whole process group (grandchildren included) and reap it."""
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._proc.wait()

    def stderr_tail(self, lines: int = 5, width: int = 300) -> str:
        """The last lines of its stderr, read from the last 64 KiB only, each cut to its last
        `width` characters (the end of a flood without newlines is what it said last)."""
        size = self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, size - 65536))
        text = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        return "\n".join("    " + (line if len(line) <= width else "…" + line[-width:]) for line in text[-lines:])

    def _fail(self, message: str) -> ImplementationFailed:
        self._failed = True
        tail = self.stderr_tail()
        return ImplementationFailed(message + (f"\n  its stderr ends with:\n{tail}" if tail else ""))

    def request(self, call: str, args: JsonObject) -> JsonObject:
        """Send one request, return its validated result."""
        self.send([(call, args)])
        return self.receive()

    def send(self, requests: Sequence[tuple[str, JsonObject]]) -> None:
        """Queue requests, answered in order by `receive`; written as the window allows."""
        if self._after_stop is not None:
            raise self._after_stop
        if not self._in_flight and not self._queued:
            self.verify_quiet(grace=0.0)
        self._queued.extend((call, (json.dumps({"call": call, "args": args}) + "\n").encode())
                            for call, args in requests)
        self._write()

    def _write(self) -> None:
        """Write queued requests while the unanswered ones stay within WINDOW (one longer
        request is written alone, as a lone request always was)."""
        if self._unwritable is not None:
            return
        batch: list[tuple[str, bytes]] = []
        size = self._in_flight_bytes
        while self._queued and ((not self._in_flight and not batch) or size + len(self._queued[0][1]) <= WINDOW):
            batch.append(self._queued.popleft())
            size += len(batch[-1][1])
        if not batch:
            return
        try:
            self._stdin.write(b"".join(line for _, line in batch))
            self._stdin.flush()
        except (BrokenPipeError, OSError):
            # answers to earlier requests may still be waiting in its stdout: they are read
            # (and compared) first, and this is reported when its answer is due
            try:
                code = self._proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                code = None
            self._unwritable = self._fail(
                (f"the implementation exited (status {code})" if code is not None else
                 "the implementation closed its stdin")
                + f" before request {self._answered + len(self._in_flight) + 1}: {batch[0][0]}")
            return
        self._in_flight.extend((call, len(line)) for call, line in batch)
        self._in_flight_bytes = size
        self.requests += len(batch)

    def receive(self) -> JsonObject:
        """The validated answer to the oldest request not answered yet."""
        if not self._in_flight:
            if self._unwritable is not None:
                raise self._unwritable
            raise RuntimeError("receive() without a request sent")  # a bug of the driver's
        call, size = self._in_flight.popleft()
        self._in_flight_bytes -= size
        self._answered += 1
        self._call = call
        number = self._answered
        self._deadline = time.monotonic() + self.timeout
        try:
            raw = self._lines.readline()
        except LineTooLong as err:
            raise self._fail(f"response {number} ({call}) is {err}") from None
        if not raw.endswith(b"\n"):
            raise self._ended()
        self._write()
        try:
            response = decode(raw)
        except BadJson as err:
            shown = raw.rstrip(b"\n")[:120].decode("utf-8", "replace")
            raise self._fail(f"response {number} ({call}) is not JSON: {shown!r} ({err})") from None
        try:
            return dict(validate_result(response, "response"))
        except BadInput as err:
            raise self._fail(f"response {number} ({call}) is not a protocol result: {err}") from None

    def settle(self) -> None:
        """After a mismatch: drop the requests not written and read the answers to those that
        were, so that `verify_quiet` sees only lines beyond them. A failure while reading
        them is the implementation's fault on a request past the mismatch (one a driver
        waiting for each answer would not have sent): the mismatch stays the finding, and
        that failure is raised by the next `send`."""
        self._queued.clear()
        while self._in_flight and self._after_stop is None:
            try:
                self.receive()
            except ImplementationFailed as failed:
                self._after_stop = failed
        self._in_flight.clear()
        self._in_flight_bytes = 0

    def verify_quiet(self, grace: float = 0.1) -> None:
        """Fail if it wrote more than one line per request: before each request (grace 0) and,
        waiting up to `grace` once, before a mismatch is reported (a second line written a
        moment late was read as the next request's answer and is the likelier fault)."""
        if self._waited:
            grace = 0.0
        self._waited = self._waited or grace > 0
        more = self._lines.pending()
        if not more and not self._ended_output and self._answered and self._selector.select(grace):
            data = os.read(self._stdout, 65536)
            self._ended_output = not data
            more = bool(data)
        if more:
            raise self._fail(f"the implementation answered more than one line to a request (noticed after request "
                             f"{self._answered} ({self._call})): the protocol is one line per request")

    def _chunk(self) -> bytes:
        """The next bytes of its stdout, waiting until the request's deadline."""
        if self._ended_output:
            return b""
        left = self._deadline - time.monotonic()
        if left <= 0 or not self._selector.select(left):
            raise self._fail(f"no response to request {self._answered} ({self._call}) within {self.timeout:g} s")
        return os.read(self._stdout, 65536)

    def _ended(self) -> ImplementationFailed:
        """Its stdout ended before the answer did: it exited, or closed stdout and runs on."""
        try:
            code = self._proc.wait(timeout=max(0.1, min(1.0, self._deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            return self._fail(f"the implementation closed its stdout without answering request "
                              f"{self._answered} ({self._call}) and keeps running")
        return self._fail(f"the implementation exited (status {code}) without answering request "
                          f"{self._answered} ({self._call})")
