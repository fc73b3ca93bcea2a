import asyncio
import time

import pytest

from ragplane.adapters.batching import MicroBatcher


class Model:
    """Encodes a text as [len(text)], recording every call."""

    def __init__(self, delay: float = 0.0, fail: Exception | None = None) -> None:
        self.calls: list[list[str]] = []
        self.delay = delay
        self.fail = fail

    async def encode(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        await asyncio.sleep(self.delay)
        if self.fail:
            raise self.fail
        return [[float(len(t))] for t in texts]


def test_concurrent_requests_share_one_encode() -> None:
    async def scenario() -> tuple[list, Model]:
        model = Model()
        batcher = MicroBatcher(model.encode, max_batch=32, max_wait_s=0.05)
        results = await asyncio.gather(*(batcher.embed(["x" * i]) for i in range(1, 11)))
        await batcher.close()
        return results, model

    results, model = asyncio.run(scenario())
    assert results == [[[float(i)]] for i in range(1, 11)]
    assert len(model.calls) == 1 and len(model.calls[0]) == 10


def test_batches_grow_while_the_model_is_busy_and_respect_max_batch() -> None:
    async def scenario() -> Model:
        model = Model(delay=0.02)
        batcher = MicroBatcher(model.encode, max_batch=4, max_wait_s=0.0)
        first = asyncio.create_task(batcher.embed(["a"]))
        await asyncio.sleep(0.005)  # the model is busy with "a"; the rest queue up
        rest = await asyncio.gather(*(batcher.embed([str(i)]) for i in range(10)))
        await first
        await batcher.close()
        assert [v[0][0] for v in rest] == [1.0] * 10
        return model

    model = asyncio.run(scenario())
    assert [len(c) for c in model.calls] == [1, 4, 4, 2]


def test_multi_text_requests_get_their_own_slice() -> None:
    async def scenario() -> list:
        batcher = MicroBatcher(Model().encode, max_batch=8, max_wait_s=0.01)
        out = await asyncio.gather(batcher.embed(["a", "bb"]), batcher.embed(["ccc"]), batcher.embed([]))
        await batcher.close()
        return out

    assert asyncio.run(scenario()) == [[[1.0], [2.0]], [[3.0]], []]


def test_a_failure_reaches_every_caller_of_the_batch() -> None:
    async def scenario() -> list:
        batcher = MicroBatcher(Model(fail=RuntimeError("down")).encode, max_batch=8, max_wait_s=0.01)
        out = await asyncio.gather(batcher.embed(["a"]), batcher.embed(["b"]), return_exceptions=True)
        await batcher.close()
        return out

    assert [str(e) for e in asyncio.run(scenario())] == ["down", "down"]


def test_a_caller_that_left_is_skipped() -> None:
    async def scenario() -> Model:
        model = Model(delay=0.02)
        batcher = MicroBatcher(model.encode, max_batch=8, max_wait_s=0.0)
        busy = asyncio.create_task(batcher.embed(["busy"]))
        await asyncio.sleep(0.005)
        gone = asyncio.create_task(batcher.embed(["gone"]))
        kept = asyncio.create_task(batcher.embed(["kept"]))
        await asyncio.sleep(0)
        gone.cancel()
        assert await kept == [[4.0]]
        await busy
        with pytest.raises(asyncio.CancelledError):
            await gone
        await batcher.close()
        return model

    assert asyncio.run(scenario()).calls == [["busy"], ["kept"]]


def test_close_cancels_what_is_still_queued() -> None:
    async def scenario() -> None:
        batcher = MicroBatcher(Model(delay=1).encode, max_batch=1, max_wait_s=0.0)
        first = asyncio.create_task(batcher.embed(["a"]))
        second = asyncio.create_task(batcher.embed(["b"]))
        await asyncio.sleep(0.01)
        await batcher.close()
        for task in (first, second):
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(scenario())


def test_several_workers_encode_in_parallel_and_a_long_wait_times_out() -> None:
    async def scenario() -> tuple[list, float]:
        model = Model(delay=0.2)
        batcher = MicroBatcher(
            model.encode,
            max_batch=1,
            max_wait_s=0.0,
            workers=2,
            queue_timeout_s=0.1,
            on_timeout=lambda waited: RuntimeError(f"busy for {waited} s"),
        )
        started = time.monotonic()
        out = await asyncio.gather(*(batcher.embed([str(i)]) for i in range(3)), return_exceptions=True)
        elapsed = time.monotonic() - started
        await batcher.close()
        return out, elapsed

    out, elapsed = asyncio.run(scenario())
    assert out[:2] == [[[1.0]], [[1.0]]]  # two workers: both encoded at once
    assert isinstance(out[2], RuntimeError) and str(out[2]) == "busy for 0.1 s"
    assert elapsed < 0.35


def test_workers_carry_no_request_trace() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    seen = []

    async def encode(texts: list[str]) -> list[list[float]]:
        seen.append(trace.get_current_span().get_span_context().is_valid)
        return [[0.0] for _ in texts]

    async def scenario() -> None:
        batcher = MicroBatcher(encode, max_batch=4, max_wait_s=0.0)
        with TracerProvider().get_tracer("t").start_as_current_span("request"):
            await batcher.embed(["x"])
        await batcher.close()

    asyncio.run(scenario())
    assert seen == [False]
