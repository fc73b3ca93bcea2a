"""Composition: stacks side by side, the local-mode lock, startup failures."""

import asyncio

import pytest

from ragplane.errors import SettingsError, VectorStoreLocked
from ragplane.stack import bind, build_stack, local_url
from tests.running import RunningStack


def test_two_stacks_run_side_by_side(make_settings, tmp_path) -> None:
    first = RunningStack(make_settings(RAGPLANE_DATA_DIR=str(tmp_path / "one"))).start()
    second = RunningStack(make_settings(RAGPLANE_DATA_DIR=str(tmp_path / "two"))).start()
    try:
        with first.client() as a, second.client() as b:
            assert a.post("/api/v1/rag/collections", json={"name": "only-in-one"}).status_code == 201
            assert b.get("/api/v1/rag/collections/only-in-one").status_code == 404
        assert set(first.urls.values()).isdisjoint(second.urls.values())
    finally:
        first.stop()
        second.stop()


def test_a_second_stack_on_the_same_data_dir_is_refused(make_settings) -> None:
    settings = make_settings()
    running = RunningStack(settings, services=("collections",)).start()
    try:
        with pytest.raises(VectorStoreLocked, match="in use by another ragplane process"):
            asyncio.run(build_stack(settings, ("query",)))
    finally:
        running.stop()


def test_a_taken_port_is_reported_naming_the_variable(make_settings) -> None:
    taken = bind("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        with pytest.raises(SettingsError, match=f"GATEWAY_PORT={port} on RAGPLANE_HOST=127.0.0.1: cannot listen"):
            asyncio.run(build_stack(make_settings(GATEWAY_PORT=str(port)), ("gateway",)))
    finally:
        taken.close()


def test_unknown_services_are_refused(make_settings) -> None:
    with pytest.raises(ValueError, match="unknown services: mail"):
        asyncio.run(build_stack(make_settings(), ("mail",)))


def test_local_url_maps_wildcards_to_loopback() -> None:
    sock = bind("0.0.0.0", 0)
    try:
        assert local_url(sock) == f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
