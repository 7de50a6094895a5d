"""Files a message carries (`Attachment`), and which of them a console may show inline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Content types a console may show inline as a picture. SVG is not one: it is a document that can
# carry scripts and remote references; it, and everything else, is a file to download.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp"})


@dataclass(frozen=True)
class Attachment:
    """A file a message carries. One the hub stores (`HubPort.store_attachment_async`) has an `id`
    and its `url` is the hub's own download route (agents only); others link elsewhere (http(s)).
    `cid`: an email part's Content-ID (no brackets), which `cid:` URLs in the HTML name.
    `kept`: the hub's key for bytes it kept (`HubPort.keep_file_async`) with no row yet: ingest
    writes the row in the message's transaction and stores the message with its `id` and `url`."""

    url: str | None
    content_type: str | None = None
    filename: str | None = None
    size: int | None = None
    cid: str | None = None
    id: int | None = None
    kept: str | None = None

    @property
    def kind(self) -> str:
        """"image" (a console may render it inline) or "file" (a link only)."""
        ctype = (self.content_type or "").partition(";")[0].strip().lower()
        return "image" if ctype in INLINE_IMAGE_TYPES else "file"

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Attachment:
        return cls(stored.get("url"), stored.get("content_type"), stored.get("filename"), stored.get("size"),
                   stored.get("cid"), stored.get("id"))

    def as_dict(self) -> dict[str, Any]:
        """As stored with the message: the fields given, and `kind`."""
        out = {k: v for k, v in self.__dict__.items() if v is not None and k != "kept"}
        out["kind"] = self.kind
        return out


@dataclass(frozen=True)
class FileToKeep:
    """One file for `HubPort.keep_files_async`: what `keep_file_async` takes, for one file."""

    content: bytes
    content_type: str | None
    filename: str | None
    cid: str | None = None
    accept: frozenset[str] | None = None
    whole_message: bool = False
