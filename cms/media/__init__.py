"""Media assets: checked from their bytes, stored at Cloudinary, recorded as `media/<id>.yml` commits.

    upload:  bytes → type from the first bytes → size limit → alt text → Cloudinary (chunked when large)
             → check what Cloudinary answered → record → one commit
    delete:  references from the index (409 unless forced) → validate the removal → Cloudinary destroy
             under the write lock → one commit

    sniffing     what a file is, from its first bytes (an allow-list; SVG refused)
    limits       how big it may be; an upload spooled to disk and checked as it arrives
    cloud        the Cloudinary seam (`Cloudinary`, `MediaSetup`)
    records      `media/<id>.yml`: its id, alt text and fields from Cloudinary's answer
    operations   upload, alt text, soft-delete, restore, delete: each one commit
"""

from cms.media.cloud import Cloudinary, MediaSetup
from cms.media.limits import Limits, Received, Spool, examine
from cms.media.operations import destroy, references, restore, soft_delete, update, upload, upload_file
from cms.media.records import ALT_MAX
from cms.media.sniffing import AssetKind, Sniffed, sniff

__all__ = ["ALT_MAX", "AssetKind", "Cloudinary", "Limits", "MediaSetup", "Received", "Sniffed", "Spool", "destroy",
           "examine", "references", "restore", "sniff", "soft_delete", "update", "upload", "upload_file"]
