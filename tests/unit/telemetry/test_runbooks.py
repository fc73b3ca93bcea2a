"""An alert's runbook: one lower-case file per alert name, the same in the repository and online."""

from ragplane.telemetry.runbooks import BASE_URL, runbook_path, runbook_url


def test_runbook_path_and_url_follow_the_alert_name() -> None:
    assert str(runbook_path("RagplaneServiceDown")) == "runbooks/ragplaneservicedown.md"
    assert runbook_url("RagplaneServiceDown") == BASE_URL + "ragplaneservicedown.md"
    assert BASE_URL.endswith("/runbooks/")
