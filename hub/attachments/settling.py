"""A message's files kept on a worker thread that answers as soon as they are whole, then goes on
to make them durable (`BlobStore.settle`) while the channel has the message written.

`keep_then_settle` is `HubPort.keep_files_async(settle=False)`: one thread hand-off for both steps
(a second, `asyncio.to_thread` for the settle, was ~2 % of the listener's GIL samples and started
the fsyncs only once the event loop came round to it). `settle_files_async` then finds the folders
settled and returns at once, or settles what is left (the thread's settle failed or is still
running) and raises if it cannot: the channel does not acknowledge the message then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from hub.attachments.files import AttachmentFiles, Kept
from hub.ports import FileToKeep, RejectedMessage

logger = logging.getLogger(__name__)


async def keep_then_settle(files: AttachmentFiles, wanted: Sequence[FileToKeep]) -> list[Kept | RejectedMessage]:
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[list[Kept | RejectedMessage]] = loop.create_future()

    def job() -> None:
        try:
            kept = files.keep_many(wanted, settle=False)
        except BaseException as exc:
            _post(loop, answer, None, exc)
            return
        _post(loop, answer, kept, None)
        try:
            files.settle([k.blob_key for k in kept if isinstance(k, Kept)])
        except Exception:  # settle_files_async tries again, and answers for it
            logger.warning("could not settle a message's files yet; the channel settles them again", exc_info=True)

    loop.run_in_executor(None, job)
    return await answer


def _post(loop: asyncio.AbstractEventLoop, answer: asyncio.Future[Any], result: Any,
          error: BaseException | None) -> None:
    def settle_answer() -> None:
        if answer.done():  # the caller went away (cancelled)
            return
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(result)
    try:
        loop.call_soon_threadsafe(settle_answer)
    except RuntimeError:  # the loop closed meanwhile: nobody waits for the answer
        pass
