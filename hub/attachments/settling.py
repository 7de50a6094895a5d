"""A message's files kept on a worker thread that answers as soon as they are whole, then goes on
to make them durable (`BlobStore.settle`) while the channel has the message written.

`Settling.keep` is `HubPort.keep_files_async(settle=False)`: one thread hand-off for both steps
(a second, `asyncio.to_thread` for the settle, was ~2 % of the listener's GIL samples and started
the fsyncs only once the event loop came round to it). `Settling.settle` is `settle_files_async`:
it waits for that thread's settle of the same files, then settles whatever is still left (that
settle failed) and raises if it cannot: the channel does not acknowledge the message then.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any

from hub.attachments.files import AttachmentFiles, Kept
from hub.ports import FileToKeep, RejectedMessage

logger = logging.getLogger(__name__)


class Settling:
    """One per hub, used on its event loop."""

    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[None]] = {}  # a blob key -> its keeping thread's settle

    async def keep(self, files: AttachmentFiles, wanted: Sequence[FileToKeep]) -> list[Kept | RejectedMessage]:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[Kept | RejectedMessage]] = loop.create_future()
        settled: asyncio.Future[None] = loop.create_future()

        def job() -> None:
            try:
                kept = files.keep_many(wanted, settle=False)
            except BaseException as exc:
                _post(loop, functools.partial(answer.set_exception, exc), answer)
                return
            _post(loop, lambda: answer.set_result(kept), answer)
            try:
                files.settle([k.blob_key for k in kept if isinstance(k, Kept)])
            except Exception:  # `settle` tries again, and answers for it
                logger.warning("could not settle a message's files yet; the channel settles them again",
                               exc_info=True)
            finally:
                _post(loop, lambda: settled.set_result(None), settled)

        loop.run_in_executor(None, job)
        kept = await answer
        keys = [k.blob_key for k in kept if isinstance(k, Kept)]
        for key in keys:
            self._pending[key] = settled
        settled.add_done_callback(lambda done: self._forget(keys, done))
        return kept

    async def settle(self, files: AttachmentFiles, keys: Sequence[str]) -> None:
        for waiting in {self._pending[k] for k in keys if k in self._pending}:
            await waiting  # never raises: a failed settle leaves the folders unsettled, seen below
        if not files.settled(keys):
            await asyncio.to_thread(files.settle, keys)

    def _forget(self, keys: Sequence[str], done: asyncio.Future[None]) -> None:
        for key in keys:
            if self._pending.get(key) is done:
                del self._pending[key]


def _post(loop: asyncio.AbstractEventLoop, resolve: Callable[[], Any], future: asyncio.Future[Any]) -> None:
    """From the worker thread: resolve `future` on the loop (unless its waiter went away)."""
    def on_loop() -> None:
        if not future.done():
            resolve()
    try:
        loop.call_soon_threadsafe(on_loop)
    except RuntimeError:  # the loop closed meanwhile: nobody waits for it
        pass
