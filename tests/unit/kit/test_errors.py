import json

from ragplane.errors import NotFound, ServiceUnavailable, ValidationFailed
from ragplane.kit.problems import PROBLEM_JSON, ProblemResponse, problem_document, problem_from_error, problem_type


def test_problem_document_has_the_rfc_9457_members() -> None:
    doc = problem_document(404, "no such thing", instance="/x", extra_member=1, absent=None)
    assert doc == {
        "type": "urn:ragplane:problem:not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "no such thing",
        "instance": "/x",
        "extra_member": 1,
    }


def test_unknown_statuses_still_get_a_type_and_title() -> None:
    assert problem_type(418) == "urn:ragplane:problem:http-error"
    assert problem_type(599) == "urn:ragplane:problem:internal-error"
    assert problem_document(599, "x")["title"] == "Error"


def test_validation_failed_lists_fields() -> None:
    error = ValidationFailed([("query", "must not be empty"), ("max_results", "must be an integer")])
    assert error.status == 422
    assert error.detail == "query: must not be empty; max_results: must be an integer"
    assert error.extra["errors"][1] == {"field": "max_results", "message": "must be an integer"}


def test_service_unavailable_sets_retry_after() -> None:
    response = problem_from_error(ServiceUnavailable("down", retry_after=7), instance="/a", trace_id="t")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert response.headers["content-type"] == PROBLEM_JSON
    body = json.loads(bytes(response.body))
    assert body["trace_id"] == "t" and body["title"] == "Service Unavailable"


def test_problem_response_is_problem_json() -> None:
    response = ProblemResponse(404, "nope", instance="/z")
    assert response.media_type == PROBLEM_JSON
    assert json.loads(bytes(response.body))["detail"] == "nope"
    assert NotFound("x").status == 404
