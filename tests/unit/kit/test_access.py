from starlette.routing import Route

from ragplane.kit.access import UNMATCHED, route_template


async def endpoint(request):  # pragma: no cover - never called
    raise AssertionError


ROUTES = [Route("/a/{x}", endpoint, methods=["GET"]), Route("/b", endpoint, methods=["POST"])]


def scope(path: str, method: str = "GET") -> dict:
    return {"type": "http", "path": path, "method": method, "root_path": ""}


def test_template_from_the_matched_route() -> None:
    assert route_template({**scope("/a/1"), "route": ROUTES[0]}, ROUTES) == "/a/{x}"


def test_template_found_by_matching_when_routing_did_not_run() -> None:
    assert route_template(scope("/a/42"), ROUTES) == "/a/{x}"
    assert route_template(scope("/b", "GET"), ROUTES) == "/b"  # partial match: wrong method


def test_unmatched_paths_share_one_label() -> None:
    assert route_template(scope("/random/path/123"), ROUTES) == UNMATCHED


def test_in_progress_returns_to_zero(make_kit) -> None:
    kit = make_kit()
    kit.client.get("/api/v1/rag/things/a")
    assert kit.sample("ragplane_http_requests_in_progress") == 0
    assert (
        kit.sample("ragplane_http_request_duration_seconds_count", route="/api/v1/rag/things/{name}", method="GET") == 1
    )


def test_unknown_methods_share_one_label(make_kit) -> None:
    kit = make_kit()
    kit.client.request("PURGE", "/api/v1/rag/things/a")
    assert (
        kit.sample("ragplane_http_requests_total", route="/api/v1/rag/things/{name}", method="OTHER", status="405") == 1
    )
