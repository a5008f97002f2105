"""What an upload is, from its first bytes: an allow-list of signatures, never the name or declared type.

JPEG, PNG, GIF, WebP and AVIF images, MP4, MOV and WebM videos are accepted;
SVG is refused because it can carry script, and so is anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cms.errors import UnsupportedType

AssetKind = Literal["image", "video"]
SNIFF_BYTES = 512
"""How much of the start of a file the type check reads."""


@dataclass(frozen=True)
class Sniffed:
    kind: AssetKind
    format: str


_PREFIXES = ((b"\xff\xd8\xff", Sniffed("image", "jpg")), (b"\x89PNG\r\n\x1a\n", Sniffed("image", "png")),
             (b"GIF87a", Sniffed("image", "gif")), (b"GIF89a", Sniffed("image", "gif")))
_MP4_BRANDS = {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"mp71", b"avc1",
               b"dash", b"M4V ", b"MSNV", b"f4v "}
_AVIF_BRANDS = {b"avif", b"avis"}
_REFUSED = ((b"MZ", "a Windows executable"), (b"\x7fELF", "an ELF executable"),
            (b"\xcf\xfa\xed\xfe", "a Mach-O executable"), (b"\xca\xfe\xba\xbe", "a Mach-O or Java executable"),
            (b"#!", "a script"), (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive"))
ACCEPTED = "JPEG, PNG, GIF, WebP or AVIF images and MP4, MOV or WebM videos"


def sniff(head: bytes) -> Sniffed:
    """The kind and format of a file from its first bytes; anything off the allow-list is refused (415)."""
    found = _by_prefix(head) or _riff(head) or _iso_media(head) or _webm(head)
    if found is None:
        raise UnsupportedType(f"the file is {_describe(head)}; upload {ACCEPTED}")
    return found


def _by_prefix(head: bytes) -> Sniffed | None:
    return next((sniffed for prefix, sniffed in _PREFIXES if head.startswith(prefix)), None)


def _riff(head: bytes) -> Sniffed | None:
    return Sniffed("image", "webp") if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else None


def _iso_media(head: bytes) -> Sniffed | None:
    """ISO base media files (MP4, MOV, AVIF): the `ftyp` box names the brands."""
    if head[4:8] in (b"moov", b"mdat", b"wide"):
        return Sniffed("video", "mov")  # a QuickTime file from before `ftyp`
    if head[4:8] != b"ftyp":
        return None
    size = int.from_bytes(head[:4], "big")
    major = head[8:12]
    brands = {major} | {head[i:i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    if major in _AVIF_BRANDS or (major in (b"mif1", b"msf1") and brands & _AVIF_BRANDS):
        return Sniffed("image", "avif")
    if major == b"qt  ":
        return Sniffed("video", "mov")
    return Sniffed("video", "mp4") if brands & _MP4_BRANDS else None


def _webm(head: bytes) -> Sniffed | None:
    return Sniffed("video", "webm") if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:64] else None


def _describe(head: bytes) -> str:
    """What a refused file looks like, for the message."""
    if not head:
        return "empty"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or (text.startswith((b"<?xml", b"<!doctype svg", b"<!--")) and b"<svg" in text):
        return "an SVG image, which is refused because SVG can carry script (export it as PNG or WebP)"
    if text.startswith((b"<!doctype html", b"<html")):
        return "an HTML document"
    return next((name for prefix, name in _REFUSED if head.startswith(prefix)), "not a kind of file we accept")
