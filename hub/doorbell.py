"""A wake-up that one thread waits for and any thread rings, ringing with the GIL released.

`threading.Event.set()` wakes its waiter while the ringer holds the GIL. On a busy machine with
few cores the woken thread can take the ringer's core while the ringer still holds the GIL, and
then no thread runs Python: in the SMTP listener's benchmark with other work on the machine,
8.7 % of the samples that held the GIL were in the event bus's `Event.set` after each commit
(bench/RESULTS.md "Issue 15, session 12"). A `Doorbell` rings with a write to a pipe, a system
call made with the GIL released, and only when the waiter sleeps (or is about to); a ring while it
is awake is a flag it finds before it sleeps again.
"""

from __future__ import annotations

import os
import select
import weakref


class Doorbell:
    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._rung = False
        self._asleep = False
        weakref.finalize(self, _close, self._read, self._write)

    def ring(self) -> None:
        """From any thread: the waiter returns from its `wait` now, or skips its next one."""
        self._rung = True
        if self._asleep:
            try:
                os.write(self._write, b"\0")
            except BlockingIOError:  # the pipe is full of rings already: it wakes all the same
                pass

    def wait(self, timeout: float) -> bool:
        """Until a ring (since the last wait returned) or `timeout` seconds; whether it rang."""
        self._asleep = True
        try:
            if not self._rung:
                _readable(self._read, timeout)
        finally:
            self._asleep = False
        rang, self._rung = self._rung, False
        try:
            os.read(self._read, 4096)  # rings that came while it was waking: they are answered
        except BlockingIOError:
            pass
        return rang


def _readable(fd: int, timeout: float) -> None:
    if hasattr(select, "poll"):  # no limit on the fd's number (select's is 1,024: a hub has sockets)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(max(0, int(timeout * 1000)))
    else:
        select.select([fd], [], [], timeout)


def _close(*fds: int) -> None:
    for fd in fds:
        os.close(fd)
