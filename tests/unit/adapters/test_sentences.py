"""Candidate answer sentences and their lexical scores (no model involved)."""

from ragplane.adapters.answerers import Passage
from ragplane.adapters.sentences import (
    asks_quantity,
    candidates,
    coverage,
    leans_back,
    lexical_scores,
    overlap,
    standalone,
    states_quantity,
)
from ragplane.lexical import key_terms

RISOTTO = (
    "Take the pan off the heat and beat in the cold butter and the parmesan. This step is called mantecatura. "
    "Serve it at once."
)


def passage(number: int, text: str, title: str = "Risotto", section: str = "") -> Passage:
    return Passage(number, f"{title.lower()}.md", title, text, 1.0 / number, section)


def test_a_sentence_that_points_back_carries_the_one_before() -> None:
    found = {s.text: s for s in candidates([passage(1, RISOTTO)])}
    mantecatura = found["This step is called mantecatura."]
    assert mantecatura.context.startswith("Take the pan off the heat")
    assert mantecatura.quoted == mantecatura.context + " This step is called mantecatura."
    assert {"butter", "mantecatura"} <= mantecatura.terms
    assert found["Take the pan off the heat and beat in the cold butter and the parmesan."].context == ""
    assert leans_back("It opens after five failures.") and leans_back("These are kept.")
    assert not leans_back("Items are kept.") and not leans_back("Iterate twice.")


def test_what_cannot_stand_in_an_answer_is_left_out() -> None:
    assert not standalone("Runbook: circuit-breaker-open.md")  # too few words
    assert not standalone("Follow the cause: a.md, b.md, c.md (which usually fires).")  # a list of links
    assert not standalone("Switch it on before work that clients must not see:")  # a lead-in
    assert not standalone("x = {a; b; c} and more words")  # code
    assert standalone("The breaker opens after five consecutive failures.")


def test_prose_semicolons_and_named_code_do_not_make_a_sentence_code() -> None:
    # "; " is prose punctuation, and the separator of a table row's cells
    assert standalone("failing check: embedder; likely cause: still loading; fix: wait; it takes 6 s")
    assert not standalone("for (i = 0; i < n;i++) { run(); }")
    # what inline code spans name is not code the sentence is made of
    spans = ["POST /internal/faults/{dependency}", "GET /internal/faults", "DELETE /internal/faults/{dependency}"]
    sentence = f"Underneath are {spans[0]}, {spans[1]} and {spans[2]}, behind the service token."
    assert not standalone(sentence) and standalone(sentence, spans)
    found = candidates(
        [
            passage(
                1,
                "Underneath are `POST /internal/faults/{dependency}`, `GET /internal/faults` and "
                "`DELETE /internal/faults/{dependency}`, behind the service token.",
            )
        ]
    )
    assert [s.text for s in found] == [sentence]


def test_a_sentence_repeated_by_overlapping_chunks_is_kept_once_and_tables_count() -> None:
    first = passage(1, "The breaker opens after five consecutive failures. It stays open for ten seconds.")
    second = passage(2, "It stays open for ten seconds.\n\n| setting | default |\n|---|---|\n| `RECOVERY_S` | `10` |")
    texts = [(s.passage.number, s.text) for s in candidates([first, second])]
    assert texts == [
        (1, "The breaker opens after five consecutive failures."),
        (1, "It stays open for ten seconds."),
        (2, "setting: RECOVERY_S; default: 10"),
    ]


def test_rare_question_terms_weigh_more_and_headings_count_half() -> None:
    pool = candidates(
        [
            passage(1, "Bake the bread in a hot oven for forty minutes.", "Bread"),
            passage(2, "Stir the rice in the pan until the stock is absorbed.", "Risotto"),
            passage(3, "Toast the rice in butter before the wine goes in.", "Risotto"),
            passage(4, "Stir the butter in at the end.", "Rice pudding"),
        ]
    )
    bread, stir_rice, toast_rice, stir_butter = lexical_scores(key_terms("How long do I toast the rice?"), pool)
    assert bread == 0.0
    assert toast_rice > stir_rice > stir_butter > 0  # "toast" is rarer than "rice"; a heading match counts less
    assert lexical_scores([], pool) == [0.0] * 4


def test_coverage_and_overlap() -> None:
    passages = [passage(1, "Risotto needs stock and butter.")]
    assert coverage(key_terms("How much butter does risotto need?"), passages) == 1.0
    assert coverage(key_terms("How do I make a chocolate cake?"), passages) == 0.0
    assert coverage([], passages) == 1.0
    one, two = candidates([passage(1, "Stir the butter into the rice slowly. Stir the butter into the rice.")])
    assert overlap(one, two) > 0.6 and overlap(one, one) == 1.0


def test_questions_asking_for_a_number_and_sentences_stating_one() -> None:
    assert asks_quantity("How long are query logs kept?") and asks_quantity("when does it open?")
    assert asks_quantity("How many documents fit in a request?")
    assert not asks_quantity("How do I rotate the secret?") and not asks_quantity("What is mantecatura?")
    assert states_quantity("Names are 1\u201363 characters.") and states_quantity("after five failures")
    assert states_quantity("kept for 30 days") and states_quantity("a 5-minute window")
    assert not states_quantity("GET /api/v1/rag/collections lists them")  # a digit inside a name
    assert not states_quantity("ragplane_slo:sli_error:ratio_rate5m")


def test_a_short_label_heading_its_paragraph_is_quoted_with_the_sentence() -> None:
    text = "Fix and resume. Fix the cause, then submit the same documents again with ragplane ingest."
    [sentence] = candidates([passage(1, text, "Ingestion job failed")])
    assert sentence.quoted == text
    assert "resum" in sentence.terms
