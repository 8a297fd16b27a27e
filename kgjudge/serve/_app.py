"""The FastAPI application: routes, error responses and the page.

Handlers that only read the store are plain functions (FastAPI runs them in its thread pool);
questions and judging call a model, so they run on one model thread of their own and the event
loop keeps serving every other request meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from kgjudge._extras import require

# The web framework is an extra: say which one when it is missing.
require("fastapi", "serve")
require("uvicorn", "serve")

from fastapi import FastAPI, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from kgjudge import __version__
from kgjudge._errors import BackendError, ConfigError, InputError, KGJudgeError, StoreError
from kgjudge.graph import Answer, StoreStats
from kgjudge._records import Judgement
from kgjudge.serve._explorer import Explorer, ForbiddenError, NotFoundError
from kgjudge.serve._models import (
    MAX_NAME,
    CurationRequest,
    CurationResult,
    DocumentView,
    EntitySearch,
    ErrorBody,
    FactDetail,
    JudgeRequest,
    Neighbourhood,
    QueryRequest,
    RejectedInputs,
    RejectedPage,
    RunSummary,
    ServerInfo,
)
from kgjudge.serve._security import Guard

logger = logging.getLogger("kgjudge.serve")
STATIC = Path(str(resources.files("kgjudge.serve") / "static"))
ERRORS: list[tuple[type[Exception], int]] = [
    (NotFoundError, 404), (ForbiddenError, 403), (InputError, 400), (ConfigError, 409), (BackendError, 502),
    (StoreError, 500), (KGJudgeError, 400),
]
RESPONSES: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 413, 422)}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(ErrorBody(error=message, status=status).model_dump(), status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def create_app(explorer: Explorer, guard: Guard | None = None) -> FastAPI:
    """The API and the page over ``explorer``, behind ``guard`` (loopback only, no token, when
    None).

    Example:
        >>> app = create_app(Explorer(ServedFolder("out/demo"), limits=DEFAULT_LIMITS))
    """
    guard = guard or Guard(max_body=explorer.limits.max_body)
    limits = explorer.limits
    models = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kgjudge-model")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        try:
            yield
        finally:
            models.shutdown(wait=True, cancel_futures=True)
            await asyncio.to_thread(explorer.close)

    app = FastAPI(
        title="kgjudge", version=__version__, lifespan=lifespan,
        description="Explore a knowledge graph, see why each fact is there, ask it questions and correct the judge.",
        # The interactive docs pages load their scripts from a CDN; the schema is enough.
        openapi_url="/api/openapi.json", docs_url=None, redoc_url=None, responses=RESPONSES,
    )
    app.state.explorer = explorer

    async def on_model_thread(fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(models, fn, *args)

    for kind, status in ERRORS:
        def handler(_request: Request, exc: Exception, status: int = status) -> JSONResponse:
            return _error(status, str(exc))

        app.add_exception_handler(kind, handler)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = f"nothing at {request.url.path}" if exc.status_code == 404 else str(exc.detail)
        return _error(exc.status_code, message)

    @app.exception_handler(Exception)
    async def crashed(_request: Request, exc: Exception) -> JSONResponse:
        logger.exception("internal error")
        return _error(500, f"internal error ({type(exc).__name__}); the server log has the details")

    # -- the API -------------------------------------------------------------------------------

    @app.get("/api/info", response_model=ServerInfo, tags=["graph"])
    def info() -> ServerInfo:
        """What is shown, what is allowed and the caps."""
        return explorer.info()

    @app.get("/api/stats", response_model=StoreStats, tags=["graph"])
    def stats() -> StoreStats:
        """Counts of entities, triples, judgements, relations, documents and origins."""
        return explorer.stats()

    @app.get("/api/entities", response_model=EntitySearch, tags=["graph"])
    def entities(
        q: str = Query(..., min_length=1, max_length=200, description="a name, alias or misspelling"),
        limit: int = Query(10, ge=1, le=limits.max_search),
    ) -> EntitySearch:
        """Entities by name: the linking of ``kgjudge query`` (names, aliases, misspellings),
        then names that start with or contain the query."""
        return explorer.search(q, limit)

    @app.get("/api/neighbourhood", response_model=Neighbourhood, tags=["graph"])
    def neighbourhood(
        entity: str = Query(..., min_length=1, max_length=MAX_NAME),
        hops: int = Query(1, ge=1, le=limits.max_hops),
        limit: int = Query(50, ge=1, le=limits.max_facts),
        offset: int = Query(0, ge=0, description="skip this many of the entity's own triples"),
        rejected: bool = Query(False, description="include rejected facts"),
    ) -> Neighbourhood:
        """The facts around an entity, capped (``more`` tells what is left per entity)."""
        return explorer.neighbourhood(entity, hops=hops, limit=limit, offset=offset, rejected=rejected)

    @app.get("/api/triples/{triple_id:path}", response_model=FactDetail, tags=["graph"])
    def triple(triple_id: str = PathParam(..., max_length=MAX_NAME)) -> FactDetail:
        """A triple with its provenance, every judgement and every decision about it."""
        return explorer.fact(triple_id)

    @app.get("/api/documents/{document_id:path}", response_model=DocumentView, tags=["graph"])
    def document(
        document_id: str = PathParam(..., max_length=MAX_NAME),
        offset: int = Query(0, ge=0),
        length: int = Query(limits.max_text, ge=0, le=limits.max_text),
    ) -> DocumentView:
        """A window of a document's text and the facts whose evidence lies in it."""
        return explorer.document(document_id, offset=offset, length=length)

    @app.post("/api/query", response_model=Answer, tags=["questions"])
    async def query(request: QueryRequest) -> Answer:
        """Answer a question from the graph (local or global search) with cited facts."""
        return await on_model_thread(explorer.query, request.question, request.mode)

    @app.post("/api/judge", response_model=Judgement, tags=["questions"])
    async def judge(request: JudgeRequest) -> Judgement:
        """Judge one triple against a document with the configured judge (nothing is stored)."""
        return await on_model_thread(explorer.judge, request)

    @app.post("/api/curation/{triple_id:path}", response_model=CurationResult, tags=["curation"])
    def curate(request: CurationRequest, triple_id: str = PathParam(..., max_length=MAX_NAME)) -> CurationResult:
        """Accept, reject or correct a triple (only when the server was started with --allow-edit)."""
        return explorer.curate(triple_id, request)

    @app.get("/api/runs/{index}", response_model=RunSummary, tags=["runs"])
    def run(index: int) -> RunSummary:
        """Counts, usage and score histograms of a build or filter run."""
        return explorer.run_summary(index)

    @app.get("/api/runs/{index}/rejects", response_model=RejectedInputs, tags=["runs"])
    def rejects(index: int, offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=limits.max_facts)) -> RejectedInputs:
        """A page of the inputs the run could not read, each with its reason."""
        return explorer.rejected_inputs(index, offset=offset, limit=limit)

    @app.get("/api/runs/{index}/rejected", response_model=RejectedPage, tags=["runs"])
    def rejected(index: int, offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=limits.max_facts)) -> RejectedPage:
        """A page of what the run's judges rejected, with judgements and reasons."""
        return explorer.rejected(index, offset=offset, limit=limit)

    # -- the page ------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(_asgi(guard))
    if guard.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(guard.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    return app


def _asgi(guard: Guard) -> Any:
    """``guard`` as a middleware class (Starlette builds middlewares from a class and options)."""

    class Guarded:
        def __init__(self, app: Any) -> None:
            self.call = guard.middleware(app)

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await self.call(scope, receive, send)

    return Guarded
