"""The floor under an arrival: the hotline's own application (its middlewares, its routes,
its live hub) with one more route, first in line, that does what an arrival does on the
event loop and nothing else. It checks the signature, parses the body and answers a
receipt; it makes no thread hop and touches neither Redis nor the database.

What wrk measures here is the most an arrival could reach with this framework, these
middlewares and this signature check, if writing the call cost nothing. bench_http prints
it beside the trivial FastAPI POST and the real arrival.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request

from hotline import schemas
from hotline.app import create_app as create_hotline_app
from hotline.routes import SIGNED_HEADERS, verified_body
from hotline.vocab import ReceiptStatus
from kernel.deps import parse_body
from kernel.security import SIGNATURE_HEADER, TIMESTAMP_HEADER

PATH = "/bench/floor"


def create_app() -> FastAPI:
    app = create_hotline_app()
    floor = APIRouter()

    @floor.post(
        PATH, response_model=schemas.CallReceiptOut, openapi_extra={"parameters": SIGNED_HEADERS}
    )
    async def arrival_floor(request: Request) -> schemas.CallReceiptOut:
        headers = request.headers
        body, _signature = await verified_body(
            request, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
        )
        call = parse_body(schemas.IncomingCall, body)
        return schemas.CallReceiptOut(
            call_id=call.provider_call_id,
            status=ReceiptStatus.QUEUED,
            position=1,
            expected_wait_s=0,
        )

    app.include_router(floor)
    app.router.routes.insert(0, app.router.routes.pop())  # first in line, as the arrival is
    return app
