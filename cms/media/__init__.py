"""Media assets: checked from their bytes, stored at Cloudinary, recorded as `media/<id>.yml` commits."""

from cms.media.operations import (
    ALT_MAX,
    Cloudinary,
    Limits,
    MediaSetup,
    Received,
    Sniffed,
    Spool,
    destroy,
    examine,
    references,
    restore,
    sniff,
    soft_delete,
    update,
    upload,
    upload_file,
)

__all__ = ["ALT_MAX", "Cloudinary", "Limits", "MediaSetup", "Received", "Sniffed", "Spool", "destroy", "examine",
           "references", "restore", "sniff", "soft_delete", "update", "upload", "upload_file"]
