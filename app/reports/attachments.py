"""Storing and serving report photos (files on disk, rows in `attachment`)."""
from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.config import Settings
from app.db import on_commit, on_rollback
from app.errors import Conflict, NotFound
from app.reports.idempotency import request_fingerprint, run_once
from app.reports.images import CleanImage, Decoders, clean_image
from app.reports.models import Attachment, Report, ReportEvent
from app.reports.schemas import AttachmentRead
from app.reports.service import require_attachable, visible_to


def clean_photo(raw: bytes, *, settings: Settings) -> CleanImage:
    """An uploaded photo checked and re-encoded (no metadata) with the configured limits, in one
    of the process's decoders (:func:`app.reports.images.clean_image`)."""
    return clean_image(raw, max_bytes=settings.attachment_max_bytes, max_pixels=settings.attachment_max_pixels,
                       max_full_pixels=settings.attachment_max_full_pixels, max_side=settings.attachment_max_side,
                       decoders=Decoders(size=settings.attachment_decoders,
                                         wait_seconds=settings.attachment_decode_wait_seconds))


def add_attachment(session: Session, *, settings: Settings, report_id: uuid.UUID, raw: bytes | None = None,
                   principal: Principal, image: CleanImage | None = None) -> Attachment:
    """Clean the photo (``raw``; or take ``image``, cleaned before), write it under the
    attachment directory and record it.

    The file is written before the row; if the transaction then fails, the file is removed.
    The number of photos is checked before the photo is decoded (no work for a full report) and
    again, with the report locked, after it (two uploads at once cannot both take the last place)."""
    report = require_attachable(session, report_id=report_id, principal=principal)
    _require_room(session, report=report, limit=settings.attachment_max_per_report)
    image = image or clean_photo(raw, settings=settings)
    _require_room(session, report=report, limit=settings.attachment_max_per_report, lock=True)
    attachment_id = uuid.uuid4()
    relative = Path(str(report.id)) / f"{attachment_id}.jpg"
    target = settings.attachment_dir / relative
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    # readable by the service alone (photos can show faces and number plates)
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        out.write(image.data)
    os.replace(tmp, target)
    on_rollback(session, lambda: target.unlink(missing_ok=True))
    attachment = Attachment(id=attachment_id, report_id=report.id, path=str(relative),
                            content_type=image.content_type, bytes=len(image.data), width=image.width,
                            height=image.height, sha256=hashlib.sha256(image.data).hexdigest(),
                            uploaded_by=principal.user_id)
    session.add(attachment)
    session.flush()
    return attachment


def _require_room(session: Session, *, report: Report, limit: int, lock: bool = False) -> None:
    """409 when the report already has ``limit`` photos (one report cannot fill the disk);
    ``lock``: hold the report (FOR NO KEY UPDATE) until the request ends, so the count stays true."""
    if lock:
        session.execute(select(Report.id).where(Report.id == report.id).with_for_update(key_share=True))
    count = session.scalar(select(func.count()).select_from(Attachment).where(Attachment.report_id == report.id))
    if count >= limit:
        raise Conflict(f"The report already has {count} photos, the most one report may have ({limit}); this one "
                       "was not stored. A coordinator can remove a photo to make room.",
                       errors=[{"field": "file", "message": f"at most {limit} photos per report"}])


def add_attachment_once(session: Session, *, settings: Settings, report_id: uuid.UUID, raw: bytes,
                        principal: Principal, idempotency_key: str | None) -> tuple[int, dict, bool]:
    """:func:`add_attachment` once per Idempotency-Key (a phone that sends a photo again after
    a lost answer gets the first one back, not a second copy); (status, body, replayed)."""
    def add() -> dict:
        attachment = add_attachment(session, settings=settings, report_id=report_id, raw=raw, principal=principal)
        return AttachmentRead(id=attachment.id, report_id=attachment.report_id, content_type=attachment.content_type,
                              bytes=attachment.bytes, width=attachment.width, height=attachment.height,
                              href=f"/api/v1/attachments/{attachment.id}").model_dump(mode="json")

    fingerprint = request_fingerprint({"report": str(report_id), "sha256": hashlib.sha256(raw).hexdigest()})
    return run_once(session, scope=f"user:{principal.user_id}:photo", key=idempotency_key, fingerprint=fingerprint,
                    status_code=201, work=add)


def get_attachment_file(session: Session, *, settings: Settings, attachment_id: uuid.UUID,
                        principal: Principal) -> tuple[Attachment, Path]:
    """The attachment and its file, if the principal may see its report."""
    attachment = session.scalar(select(Attachment).join(Report, Report.id == Attachment.report_id)
                                .where(Attachment.id == attachment_id, visible_to(principal)))
    if attachment is None:
        raise NotFound(f"No attachment {attachment_id} that you may see")
    return attachment, settings.attachment_dir / attachment.path


def delete_attachment(session: Session, *, settings: Settings, attachment_id: uuid.UUID, principal: Principal) -> None:
    """Remove a photo (coordinator): a face or a number plate that should not be kept. The row
    goes now, the file once the request has committed; the report's history records which photo
    was removed, and by whom."""
    attachment = session.scalar(select(Attachment).join(Report, Report.id == Attachment.report_id)
                                .where(Attachment.id == attachment_id, visible_to(principal)).with_for_update())
    if attachment is None:
        raise NotFound(f"No attachment {attachment_id} that you may see")
    target = settings.attachment_dir / attachment.path
    session.add(ReportEvent(report_id=attachment.report_id, user_id=principal.user_id, action="photo_removed",
                            changes={"attachment": str(attachment.id)}))
    session.delete(attachment)
    session.flush()
    on_commit(session, lambda: target.unlink(missing_ok=True))
