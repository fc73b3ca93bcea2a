"""bench_scale end to end at a small size: the real model, the embedded store, exact recall."""

import json
from pathlib import Path

from loadtests.bench_scale import corpus, main


def test_the_generated_corpus_is_the_same_every_time() -> None:
    first, questions = corpus(50, 5)
    assert (first, questions) == corpus(50, 5)
    assert len(set(first)) == 50 and not set(questions) & set(first)


def test_a_small_run_prints_every_figure(tmp_path: Path, capsys) -> None:
    out = tmp_path / "scale.json"
    run = ["--chunks", "300", "--queries", "20", "--json", str(out), "--cache", str(tmp_path / "cache")]
    assert main(run) == 0
    printed = capsys.readouterr().out
    for line in ("embedding (the model)", "storing (Qdrant Edge)", "hybrid search p50 / p95", "recall@10"):
        assert line in printed
    assert json.loads(out.read_text())["recall_at_10"] >= 0.99  # exact search: only float ties may differ
