"""POST /manage/{token}/library: upload a reference-library export as liked papers."""

from __future__ import annotations

import asyncio
from pathlib import PurePath

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from digest.errors import LibraryFileError
from digest.library.resolve import import_library
from digest.text import one_line
from digest.web.actions import bad_form, invalid_link, manage_page, reload
from digest.web.common import Web, check_csrf, limited

MAX_UPLOAD = 5_000_000      # bytes of the file itself
FORM_OVERHEAD = 64_000      # the multipart framing and the other fields around it


async def import_upload(web: Web, request: Request) -> Response:
    """Read the uploaded export (at most MAX_UPLOAD bytes) and add its papers to the
    subscriber's liked papers; the manage page says what became of them, or why nothing did."""
    token = request.path_params["token"]
    row, why = web.subscriber(token, "manage")
    if row is None:
        return invalid_link(web, request, why)
    too_large = f"Nothing was imported: the file is larger than {MAX_UPLOAD // 1_000_000} MB."
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > MAX_UPLOAD + FORM_OVERHEAD:
        return manage_page(web, request, row, token, 413, notice=too_large)
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception:  # malformed multipart bodies are answered with 400, never a 500
        return bad_form(web, request)
    if (refusal := check_csrf(web, request, form) or await limited(web, request)) is not None:
        return refusal
    upload = form.get("library")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return manage_page(web, request, row, token, 400,
                           notice="Nothing was imported: choose a file to upload.")
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return manage_page(web, request, row, token, 413, notice=too_large)
    name = one_line(PurePath(upload.filename.replace("\\", "/")).name, 100) or "upload"
    try:
        report = await asyncio.to_thread(import_library, web.engine, row.email, data, name,
                                         form.get("replace") == "1")
    except LibraryFileError as exc:
        return manage_page(web, request, row, token, 400, notice=f"Nothing was imported. {exc}.")
    return manage_page(web, request, reload(web, row), token,
                       notice="Imported " + "; ".join(report.lines()) + ".")
