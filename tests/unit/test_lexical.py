"""Terms and BM25 sparse vectors."""

import zlib

import pytest

from ragplane.lexical import K1, SparseVector, document_vector, index, key_terms, query_vector, terms


def test_terms_are_stems_without_stop_words() -> None:
    assert terms("How do the services authenticate each other?") == ["servic", "authent"]
    assert terms("Authentication: the service authenticated") == ["authent", "servic", "authent"]
    # identifiers split at punctuation; one-character words go; digits stay
    assert terms("X-Service-Token is 5 or 429") == ["servic", "token", "429"]
    assert terms("Crème brûlée, INTER_SERVICE_SECRET") == ["crème", "brûlée", "inter", "servic", "secret"]


def test_key_terms_leave_out_the_words_that_frame_a_question() -> None:
    assert key_terms("How long are query logs kept?") == ["queri", "log", "kept"]
    assert key_terms("What happens when the breaker opens?") == ["breaker", "open"]


def test_a_query_vector_holds_only_key_terms() -> None:
    # "long" and "happens" frame the question; a passage using them in passing is no match.
    assert query_vector("How long are query logs kept?") == query_vector("query logs kept")
    assert query_vector("What happens when the breaker opens?") == query_vector("breaker opens")


def test_term_indices_are_stable_crc32() -> None:
    assert index("servic") == zlib.crc32(b"servic")
    vector = query_vector("breaker breaker opens")
    assert vector == SparseVector(tuple(sorted({index("breaker"), index("open")})), (1.0, 1.0))
    assert query_vector("what is the") == SparseVector((), ())


def test_document_weights_saturate_and_normalise_for_length() -> None:
    def weight(text: str, term: str) -> float:
        vector = document_vector(text)
        return dict(zip(vector.indices, vector.values, strict=True))[index(term)]

    once, twice = weight("breaker opens", "breaker"), weight("breaker breaker opens", "breaker")
    assert once < twice < K1 + 1  # more occurrences weigh more, never beyond the saturation bound
    long = "breaker " + " ".join(f"word{i}" for i in range(200))
    assert weight(long, "breaker") < weight("breaker word", "breaker")  # a mention in a long chunk weighs less
    assert list(document_vector("b a c a").indices) == sorted(document_vector("b a c a").indices)


@pytest.mark.parametrize("text", ["", "the and of", "?!"])
def test_texts_without_terms_have_empty_vectors(text: str) -> None:
    assert document_vector(text) == SparseVector((), ())
