"""Attachments' types come from their bytes: a declared type that does not fit is corrected."""

from __future__ import annotations

import pytest

from hub.attachments.files import safe_filename
from hub.attachments.sniff import INLINE_SERVED, _recognised, sniff

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 20
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x00" * 20
GIF = b"GIF89a" + b"\x00" * 20
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 20
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


@pytest.mark.parametrize(("content", "declared", "expected"), [
    (PNG, "image/png", "image/png"),
    (PNG, "application/octet-stream", "image/png"),
    (PNG, None, "image/png"),
    (JPEG, "image/jpg", "image/jpeg"),
    (GIF, "image/png", "image/gif"),
    (WEBP, "", "image/webp"),
    (PDF, "image/png", "application/pdf"),
    (SVG, "image/png", "image/svg+xml"),
    (HTML, "image/jpeg", "text/html"),
    (b"   <html><script>alert(1)</script>", "text/html", "text/plain"),  # unrecognised: never taken as HTML
    (b"   <html><script>alert(1)</script>", "image/png", "text/plain"),
    (b"name,total\nAda,3\n", "text/csv", "text/csv"),  # unrecognised, and a type we could not recognise
    (b"hello there\n", None, "text/plain"),
    (b"\x00\x01\x02\x03 binary", "image/gif", "application/octet-stream"),
    (b"", "application/pdf", "application/octet-stream"),
    (b"\x00\x01\x02", "text/html; charset=utf-8", "application/octet-stream"),
    (b"\x00\x01\x02", "not a type", "application/octet-stream"),
])
def test_the_type_is_what_the_bytes_are(content: bytes, declared: str | None, expected: str) -> None:
    assert sniff(content, declared) == expected


def test_a_declared_type_the_bytes_also_fit_is_kept() -> None:
    zipped = b"PK\x03\x04" + b"\x00" * 40
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert sniff(zipped, xlsx) == xlsx
    assert sniff(zipped, None, "report.xlsx") == xlsx


def test_only_raster_pictures_are_ever_served_inline() -> None:
    assert INLINE_SERVED == {"image/png", "image/jpeg", "image/gif", "image/webp"}
    assert sniff(SVG, "image/svg+xml") not in INLINE_SERVED
    assert sniff(HTML, "text/html") not in INLINE_SERVED


@pytest.mark.parametrize(("name", "expected"), [
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\ada\\report.pdf", "report.pdf"),
    ('bad"name\r\n.png', "badname.png"),
    ("", "attachment.png"),
    (None, "attachment.png"),
    ("..", "attachment.png"),
    ("a" * 300 + ".png", "a" * 196 + ".png"),
])
def test_filenames_are_only_names(name: str | None, expected: str) -> None:
    assert safe_filename(name, "image/png") == expected


@pytest.mark.parametrize(("content", "declared"), [
    (PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"),
    (b"GIF87a" + b"\x01" * 30, "image/gif"), (b"%PDF-1.4\n" + bytes(range(256)), "application/pdf")])
def test_a_declared_type_its_magic_number_confirms_is_the_type_puremagic_gives_too(content: bytes,
                                                                                 declared: str) -> None:
    assert sniff(content, declared) == declared
    assert declared in _recognised(content, None), "the shortcut answers what the full table would"


@pytest.mark.parametrize(("content", "declared", "expected"), [
    (PNG, "application/pdf", "image/png"), (PDF, "image/jpeg", "application/pdf"),
    (b"%PD not quite", "application/pdf", "text/plain"), (HTML, "image/gif", "text/html")])
def test_a_declared_type_the_bytes_do_not_start_with_is_not_taken(content: bytes, declared: str,
                                                                  expected: str) -> None:
    assert sniff(content, declared) == expected
