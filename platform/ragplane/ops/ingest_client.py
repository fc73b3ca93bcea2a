"""The collections API as `ragplane ingest` and `ragplane delete` need it, over HTTP.

Through the gateway by default, so the command works from any directory with no secret:
anonymously (the default plan) or with a bearer token. Pointed at the collections
service itself, it sends the service token instead. Either way it must be a good citizen
of a rate-limited edge: a job is polled with backoff (`POLL_FIRST_S`, growing to
`POLL_MAX_S`), and a 429 or 503 with `Retry-After` is waited out and retried, a bounded
number of times, instead of ending the run while the job completes without it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from ragplane.errors import IngestError, TooLarge
from ragplane.kit.service_auth import HEADER as SERVICE_TOKEN
from ragplane.kit.versioning import V1

POLL_FIRST_S = 0.5
POLL_MAX_S = 5.0
POLL_GROWTH = 1.5
MAX_WAITS = 10  # Retry-After answers waited out for one request before giving up
MAX_WAIT_S = 60.0

Progress = Callable[[dict[str, Any]], object]


def _problem(response: httpx.Response) -> dict[str, Any] | None:
    """The answer's JSON object (a problem document, on an error), or None when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def problem_text(response: httpx.Response) -> str:
    """`HTTP <status>: <detail>` from a problem+json answer (or the body's start when it is not one),
    with the fields a 422 names."""
    body = _problem(response)
    if body is None:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    errors = [f"{e.get('field')}: {e.get('message')}" for e in body.get("errors") or [] if isinstance(e, dict)]
    detail = body.get("detail") or response.text[:200]
    return f"HTTP {response.status_code}: {detail}" + (f" ({'; '.join(errors)})" if errors else "")


def _problem_type(response: httpx.Response) -> str:
    """The problem's `type` without its `urn:ragplane:problem:` prefix ("" when the body is not one)."""
    kind = (_problem(response) or {}).get("type")
    return kind.rsplit(":", 1)[-1] if isinstance(kind, str) else ""


def retry_after_s(response: httpx.Response) -> float | None:
    """The wait a 429 or 503 asks for (seconds or an HTTP date), capped at MAX_WAIT_S; None when it asks none."""
    value = response.headers.get("retry-after", "").strip()
    if response.status_code not in (429, 503) or not value:
        return None
    if value.isdigit():
        return min(float(value), MAX_WAIT_S)
    try:
        moment = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, min(moment - time.time(), MAX_WAIT_S))


class IngestClient:
    """One stack's collections API; `say` hears about waits (rate limits, maintenance)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        service_token: str | None = None,
        say: Callable[[str], object] = lambda _: None,
        timeout_s: float = 60.0,
    ) -> None:
        headers = {SERVICE_TOKEN: service_token} if service_token else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.service_token = bool(service_token)
        self.say = say
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)

    async def __aenter__(self) -> IngestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API request, waiting out (a bounded number of) 429/503 answers that say when to retry."""
        for _ in range(MAX_WAITS):
            try:
                response = await self.http.request(method, V1 + path, **kwargs)
            except httpx.HTTPError as exc:
                raise IngestError(f"cannot reach {self.http.base_url}: {exc}") from exc
            wait = retry_after_s(response)
            if wait is None:
                return response
            self.say(f"{problem_text(response)}; retrying in {wait:.0f} s")
            await asyncio.sleep(wait)
        return response

    def refused(self, response: httpx.Response) -> IngestError:
        """The error for an unexpected answer, with what to do about 401 and 403."""
        text = problem_text(response)
        if response.status_code == 401:
            text += " (pass a token the gateway accepts with --token or RAGPLANE_TOKEN; see `ragplane token`)"
        elif response.status_code == 403 and not self.service_token:
            text += (
                f" ({self.http.base_url} wants the service token, which is sent only to the collections "
                "service COLLECTIONS_URL names, with INTER_SERVICE_SECRET set; or leave out --url to go "
                "through the gateway)"
            )
        return IngestError(text)

    async def ensure_collection(self, name: str, description: str = "") -> bool:
        """Create the collection unless it exists; True when it was created."""
        response = await self.call("GET", f"/rag/collections/{name}")
        if response.status_code == 200:
            return False
        if response.status_code != 404:
            raise self.refused(response)
        response = await self.call("POST", "/rag/collections", json={"name": name, "description": description})
        if response.status_code not in (201, 409):
            raise self.refused(response)
        return response.status_code == 201

    async def submit(self, collection: str, documents: list[dict[str, Any]]) -> str:
        response = await self.call("POST", f"/rag/collections/{collection}/documents", json={"documents": documents})
        if response.status_code == 413:
            raise TooLarge(problem_text(response))
        if response.status_code != 202:
            raise self.refused(response)
        return str(response.json()["id"])

    async def job(self, job_id: str) -> dict[str, Any]:
        response = await self.call("GET", f"/rag/jobs/{job_id}")
        if response.status_code != 200:
            raise self.refused(response)
        return response.json()  # type: ignore[no-any-return]

    async def wait(self, job_id: str, progress: Progress | None = None) -> dict[str, Any]:
        """Poll the job until it ends, with backoff; `progress(job)` sees every answer."""
        delay = POLL_FIRST_S
        while True:
            job = await self.job(job_id)
            if progress is not None:
                progress(job)
            if job["state"] in ("completed", "failed"):
                return job
            await asyncio.sleep(delay)
            delay = min(delay * POLL_GROWTH, POLL_MAX_S)

    async def document_ids(self, collection: str) -> list[str]:
        response = await self.call("GET", f"/rag/collections/{collection}/documents")
        if response.status_code != 200:
            raise self.refused(response)
        return [d["id"] for d in response.json()["documents"]]

    async def delete_document(self, collection: str, document_id: str) -> bool:
        """Delete one document (by the `id` query parameter: any id, even `../a.md`); False when absent."""
        response = await self.call("DELETE", f"/rag/collections/{collection}/documents", params={"id": document_id})
        if response.status_code == 404 and _problem_type(response) == "document-not-found":
            return False
        if response.status_code != 204:
            raise self.refused(response)
        return True
