"""HTML is cleaned before any agent sees it (DESIGN.md contract 7), and before the writer.

Cleaning is the caller's job, done before a message is handed to the writer thread
(`Hub.ingest`/`ingest_async` for customers' messages, the reply route for agents' HTML): inside
the shared write transaction a 720 KB body held every writer for 0.55 s. `do_ingest` and
`do_reply` store the HTML they are given as it is. Bodies over INLINE_CHARS are cleaned on a
thread, never on the event loop.

Remote images in a customer's HTML are kept but cannot load: `<img src="https://...">` is stored as
`<img data-remote-src="https://...">` (no `src` at all, so nothing is fetched, not even by a
console without our CSP). A console shows them when the agent asks, by copying
`data-remote-src` (always http or https) into `src`. Loading one tells the sender that and when the
message was read, and from where. Inline images (`cid:`) keep their `src`. Agents' own HTML (it
leaves as an email body) is cleaned without this marking.
"""

from __future__ import annotations

import asyncio
import html as htmllib
import re
from collections.abc import Mapping
from dataclasses import replace

import nh3

from hub.ports import InboundMessage

_ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "hr", "i", "img", "li",
    "ol", "p", "pre", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
}
_ALLOWED_ATTRS = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}, "td": {"colspan"}}
# nh3's output is serialized by html5ever: every attribute as name="value", `"` and `>` escaped
# inside values, so an img tag's attributes can be read exactly with a pattern.
_REMOTE_IMG = re.compile(r'<img((?:\s+[\w:-]+="[^"]*")*?)\s+src="(https?://[^"]*)"', re.IGNORECASE)
# ~0.3-0.5 us a character: up to this many (~1 ms) are cleaned in place, longer ones on a thread.
INLINE_CHARS = 2_000


def sanitize_html(raw: str | None, *, block_remote_images: bool = False) -> str | None:
    if raw is None:
        return None
    clean = nh3.clean(
        raw,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRS,
        url_schemes={"http", "https", "mailto", "cid"},
        link_rel="noopener noreferrer nofollow",
    )
    if block_remote_images and "<img" in clean:
        clean = _REMOTE_IMG.sub(r'<img\1 data-remote-src="\2"', clean)
    return clean


_MARKED_IMG = re.compile(r'<img((?:\s+[\w:-]+="[^"]*")*?)\s+data-remote-src="(https?://[^"]*)"', re.IGNORECASE)


def show_remote_images(html: str) -> str:
    """Stored HTML with its remote images loadable again (`data-remote-src` back to `src`), for
    when the agent asks to see them. Only http(s) URLs were ever marked."""
    return _MARKED_IMG.sub(r'<img\1 src="\2"', html) if "data-remote-src" in html else html


_CID_IMG = re.compile(r'(<img(?:\s+[\w:-]+="[^"]*")*?\s+src=")cid:([^"]*)"', re.IGNORECASE)


def inline_part_ids(html: str) -> set[str]:
    """The Content-IDs the stored HTML's images name (`src="cid:..."`)."""
    return {htmllib.unescape(m.group(2)) for m in _CID_IMG.finditer(html)} if "cid:" in html else set()


def show_inline_parts(html: str, sources: Mapping[str, str]) -> str:
    """Stored HTML with its `cid:` images pointed at `sources` (Content-ID -> URL); others as they were."""
    def point(m: re.Match[str]) -> str:
        source = sources.get(htmllib.unescape(m.group(2)))
        return f'{m.group(1)}{htmllib.escape(source)}"' if source else m.group(0)

    return _CID_IMG.sub(point, html) if sources else html


async def sanitize_html_async(raw: str | None, *, block_remote_images: bool = False) -> str | None:
    """`sanitize_html` for the event loop: a long body is cleaned on a thread."""
    if raw is None or len(raw) <= INLINE_CHARS:
        return sanitize_html(raw, block_remote_images=block_remote_images)
    return await asyncio.to_thread(sanitize_html, raw, block_remote_images=block_remote_images)


def cleaned(msg: InboundMessage, html: str | None) -> InboundMessage:
    return msg if html is None else replace(msg, html=html)


def clean_inbound(msg: InboundMessage) -> InboundMessage:
    """A customer's message ready for the writer: its HTML cleaned, remote images marked."""
    return cleaned(msg, sanitize_html(msg.html, block_remote_images=True))


async def clean_inbound_async(msg: InboundMessage) -> InboundMessage:
    return cleaned(msg, await sanitize_html_async(msg.html, block_remote_images=True))
