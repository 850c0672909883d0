"""GET /audit.csv, by hand: the audit log streamed as CSV (declared as ``audit_csv`` in
contract/accounts.py, with the listing's filters), page by page as it is written."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from modelbay.contract.accounts import AUDIT_CSV
from modelbay.server.api.deps import caller
from modelbay.services.dispatch import invoke

router = APIRouter(tags=["admin"])


@router.get(AUDIT_CSV.path)
async def audit_csv(request: Request) -> Response:
    """Check the caller and the filters first (an error is still the error shape), then
    stream the rows."""
    svc, who = caller(request)
    query = AUDIT_CSV.request.parse(dict(request.query_params))
    chunks, _ = await run_in_threadpool(invoke, svc, AUDIT_CSV, who, query)
    headers = {"Content-Disposition": 'attachment; filename="audit.csv"'}
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers=headers)
