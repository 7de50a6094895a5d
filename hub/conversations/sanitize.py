"""HTML is cleaned before any agent sees it (DESIGN.md contract 7), and before the writer.

Cleaning is the caller's job, done before a message is handed to the writer thread
(`Hub.ingest`/`ingest_async` for customers' messages, the reply route for agents' HTML): inside
the shared write transaction a 720 KB body held every writer for 0.55 s. `do_ingest` and
`do_reply` store the HTML they are given as it is. Bodies over INLINE_CHARS are cleaned on a
thread, never on the event loop.

Remote images in a customer's HTML are kept but cannot load: an image keeps its `src` only when it
is inline (`cid:`) or a raster `data:image/...`; any other (`https://...`, `//host/...`, a relative
`/api/...`) is stored as `<img data-remote-src="...">` (no `src` at all, so nothing is fetched, not
even by a console without our CSP). A console shows them when the agent asks, by copying
`data-remote-src` into `src` for absolute http(s) URLs only: a relative one would be a request to
the hub, with the agent's cookies, from the frame (it keeps the hub's origin). Loading one tells the
sender that and when the message was read, and from where. Links keep only absolute http(s) and
mailto targets. URLs are read as a browser does (spaces at either end, tabs and newlines anywhere
ignored) before they are judged. Agents' own HTML (it leaves as an email body) is cleaned without
the marking: its absolute http(s) images stay, its relative ones go. No `style`, `srcset` or
`background` attribute and no `<style>` survive cleaning, so CSS `url()` cannot load anything.
"""

from __future__ import annotations

import asyncio
import html as htmllib
import re
from collections.abc import Callable, Mapping
from dataclasses import replace

import nh3

from hub.attachments.sniff import INLINE_SERVED
from hub.ports import InboundMessage

_ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "hr", "i", "img", "li",
    "ol", "p", "pre", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
}
_ALLOWED_ATTRS = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}, "td": {"colspan"}}
# nh3's output is serialized by html5ever: every attribute as name="value", `"` and `>` escaped
# inside values, so an img tag's attributes can be read exactly with a pattern. `_url_filter` has
# already left every `src` normalized, so what is not inline here is remote.
_REMOTE_IMG = re.compile(r'<img((?:\s+[\w:-]+="[^"]*")*?)\s+src="(?!cid:|data:)([^"]*)"', re.IGNORECASE)
_WEB = re.compile(r"https?://", re.IGNORECASE)
_LINK = re.compile(r"https?://|mailto:", re.IGNORECASE)
_INLINE = re.compile(r"cid:|data:(?:" + "|".join(re.escape(t) for t in sorted(INLINE_SERVED)) + r")[;,]",
                     re.IGNORECASE)
_URL_IGNORED = re.compile(r"[\t\n\r]")
_URL_TRIMMED = "".join(map(chr, range(0x21)))  # C0 controls and space, as the URL standard strips
# ~0.3-0.5 us a character: up to this many (~1 ms) are cleaned in place, longer ones on a thread.
INLINE_CHARS = 2_000


def _browser_url(value: str) -> str:
    """The URL a browser would follow for an attribute's value."""
    return _URL_IGNORED.sub("", value).strip(_URL_TRIMMED)


def _url_filter(block_remote_images: bool) -> Callable[[str, str, str], str | None]:
    def keep(tag: str, attr: str, value: str) -> str | None:
        if attr == "href":
            url = _browser_url(value)
            return url if _LINK.match(url) else None
        if attr == "src":
            url = _browser_url(value)
            if _INLINE.match(url):
                return url
            if url[:5].lower() == "data:" or not url:
                return None
            return url if block_remote_images or _WEB.match(url) else None  # marked remote after cleaning
        return value

    return keep


def sanitize_html(raw: str | None, *, block_remote_images: bool = False) -> str | None:
    if raw is None:
        return None
    clean = nh3.clean(
        raw,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRS,
        url_schemes={"http", "https", "mailto", "cid", "data"},
        attribute_filter=_url_filter(block_remote_images),
        link_rel="noopener noreferrer nofollow",
    )
    if block_remote_images and "<img" in clean:
        clean = _REMOTE_IMG.sub(r'<img\1 data-remote-src="\2"', clean)
    return clean


_MARKED_IMG = re.compile(r'<img((?:\s+[\w:-]+="[^"]*")*?)\s+data-remote-src="(https?://[^"]*)"', re.IGNORECASE)


def show_remote_images(html: str) -> str:
    """Stored HTML with its remote images loadable again (`data-remote-src` back to `src`), for
    when the agent asks to see them: absolute http(s) URLs only, never a relative one."""
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
