"""Attachments: an agent uploads a file for a reply, and downloads the files of what they may read.

A download is a file, never a page of the hub: `Content-Disposition: attachment` (only png, jpeg,
gif and webp, whose type was read from their bytes, are `inline`, for the thread's thumbnails),
`nosniff`, and a policy under which nothing in it runs or loads (`default-src 'none'; sandbox`),
so an HTML or SVG file a customer sent cannot act as the hub's origin even if opened directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, UploadFile
from fastapi.responses import StreamingResponse

from agents_ui.deps import Caller, current_caller, get_hub
from agents_ui.errors import error_body
from hub import access
from hub.attachments.sniff import INLINE_SERVED
from hub.blobs import CHUNK, BlobNotFound, describe_size
from hub.errors import NotFound, TooLarge
from hub.ports import AttachmentTooLarge
from hub.runtime import Hub

UPLOAD_PATH = "/api/v1/attachments"
# What a multipart body adds around the file (boundaries, part headers): the body limit's margin.
MULTIPART_MARGIN = 64 * 1024
POLICY = "default-src 'none'; sandbox"

router = APIRouter(prefix=UPLOAD_PATH, tags=["attachments"])


def upload_body_limit(max_bytes: int) -> tuple[int, dict[str, object]]:
    """The upload route's body limit and its refusal, for agents_ui.limits.BodySizeLimit."""
    exc = file_too_large(max_bytes)
    return max_bytes + MULTIPART_MARGIN, error_body(exc.code, exc.message, reason=exc.reason, params=exc.params)


def file_too_large(max_bytes: int) -> TooLarge:
    return TooLarge(f"the file is over the limit of {describe_size(max_bytes)}", reason="file_too_large",
                    max_bytes=max_bytes)


@router.post("", status_code=201, summary="Upload a file, to attach to a reply")
async def upload(file: UploadFile = File(description="the file (multipart/form-data, field `file`)"),
                 caller: Caller = Depends(current_caller), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """The stored file (`id`, `url`, `content_type` as read from its bytes, `filename`, `size`,
    `kind`): send its `id` in a reply's `attachments`. Until then only its uploader may download it."""
    files = hub.options.files
    if files is not None and file.size is not None and file.size > files.max_bytes:
        raise file_too_large(files.max_bytes)
    try:
        stored = await hub.store_file_async(file.file, file.content_type, file.filename, uploaded_by=caller.agent_id)
    except AttachmentTooLarge as exc:
        raise file_too_large(exc.max_bytes) from None
    finally:
        await file.close()
    return stored.as_dict()


@router.get("/{attachment_id}", summary="Download an attachment", response_class=StreamingResponse,
            responses={200: {"description": "the file, as stored", "content": {"application/octet-stream": {}}}})
def download(attachment_id: int, caller: Caller = Depends(current_caller),
             hub: Hub = Depends(get_hub)) -> StreamingResponse:
    """For whoever may read a conversation where a message carries it (and its uploader before it is
    sent); anyone else gets 404, as for an id that does not exist."""
    with hub.db.read() as s:
        row = access.check_attachment(s, caller.scope, attachment_id)
        key, content_type, filename, size = row.blob_key, row.content_type, row.filename, row.size
    files = hub.options.files
    try:
        if files is None:
            raise BlobNotFound(key)
        stream = files.store.open(key)
    except BlobNotFound:
        raise NotFound(f"attachment {attachment_id} is no longer kept") from None
    disposition = "inline" if content_type in INLINE_SERVED else "attachment"
    return StreamingResponse(_chunks(stream), media_type=content_type, headers={
        "Content-Disposition": content_disposition(disposition, filename),
        "Content-Length": str(size),
        "Content-Security-Policy": POLICY,
        "X-Content-Type-Options": "nosniff",
    })


def content_disposition(disposition: str, filename: str) -> str:
    """RFC 6266: an ASCII fallback name, and the real one encoded (RFC 8187)."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_").replace("\\", "_")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(CHUNK):
            yield chunk
