"""Self-BLEU must equal the NLTK all-pairs definition (REFERENCE.md section 10) on the same tokens."""
import random

import numpy as np
import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from metrics.spacy_models import DEFAULT_SPACY
from metrics.self_bleu import self_bleu, self_bleu_per_text
from metrics.word_tokens import tokenize

# The reference's weights: n = 1..4 padded to four orders, n = 5 with five.
REFERENCE_WEIGHTS = [(1, 0, 0, 0), (0.5, 0.5, 0, 0), (1 / 3, 1 / 3, 1 / 3, 0), (0.25,) * 4, (0.2,) * 5]


def nltk_self_bleu(token_lists):
    """(N, 5) array: sentence_bleu of each text against all the others, method1 smoothing (the O(N^2) loop)."""
    smooth = SmoothingFunction().method1
    rows = []
    for i, hyp in enumerate(token_lists):
        refs = token_lists[:i] + token_lists[i + 1:]
        rows.append(sentence_bleu(refs, hyp, weights=REFERENCE_WEIGHTS, smoothing_function=smooth))
    return np.array(rows, dtype=float)


def random_corpus(seed):
    rng = random.Random(seed)
    vocab = [f"w{k}" for k in range(rng.choice([2, 4, 8, 30]))]
    docs = [[rng.choice(vocab) for _ in range(rng.choice([0, 1, 2, 3, 4, 5, 7, 12, 25]))]
            for _ in range(rng.randint(2, 30))]
    docs += [list(docs[rng.randrange(len(docs))]) for _ in range(rng.randint(0, 3))]  # exact duplicates
    return docs


@pytest.mark.parametrize("seed", range(12))
def test_equals_nltk_on_random_token_lists(seed):
    docs = random_corpus(seed)
    np.testing.assert_allclose(self_bleu_per_text(docs, 5), nltk_self_bleu(docs), rtol=0, atol=1e-9)


def test_brevity_penalty_uses_the_closest_other_length_ties_to_the_shorter():
    # "a a a a a" (5 tokens) has others of length 4 and 6: NLTK takes 4, so no brevity penalty for it,
    # and the 4-token text's closest other is 5 (not itself).
    docs = [["a"] * 5, ["a"] * 4, ["a"] * 6]
    ours = self_bleu_per_text(docs, 5)
    np.testing.assert_allclose(ours, nltk_self_bleu(docs), atol=1e-12)
    assert ours[0, 0] == pytest.approx(1.0)
    assert ours[1, 0] == pytest.approx(np.exp(1 - 5 / 4))


def test_equals_nltk_on_real_news_texts(ag_news_test):
    for name, size in (("regex", 200), ("spacy", 100)):
        texts = [r["text"] for r in ag_news_test[:size]]
        docs, _ = tokenize(texts, name, DEFAULT_SPACY)
        reference = nltk_self_bleu(docs)
        np.testing.assert_allclose(self_bleu_per_text(docs, 5), reference, rtol=0, atol=1e-9)
        result = self_bleu(texts, tokenizer=name)
        assert [result[f"self_bleu_{n}"] for n in range(1, 6)] == pytest.approx(reference.mean(0), abs=1e-9)
    assert 0.05 < result["self_bleu_5"] < result["self_bleu_1"] < 1


def test_identical_texts_score_one_and_disjoint_texts_score_zero():
    same = self_bleu(["the cat sat on the mat"] * 3)
    assert [same[f"self_bleu_{n}"] for n in range(1, 6)] == pytest.approx([1.0] * 5)
    disjoint = self_bleu(["alpha beta", "gamma delta", "epsilon zeta"])
    assert all(disjoint[f"self_bleu_{n}"] == 0.0 for n in range(1, 6))


def test_empty_strings_are_scored_like_nltk():
    texts = ["", "a b c d e f", "", "a b c x y z", "b c d"]
    docs, _ = tokenize(texts, "whitespace")
    expected = nltk_self_bleu(docs).mean(0)
    result = self_bleu(texts, tokenizer="whitespace")
    assert [result[f"self_bleu_{n}"] for n in range(1, 6)] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("texts", [[], ["only one text"]])
def test_fewer_than_two_texts_is_an_error(texts):
    with pytest.raises(ValueError, match="at least 2 texts"):
        self_bleu(texts)


def test_bad_arguments_name_what_is_allowed():
    with pytest.raises(ValueError, match="allowed"):
        self_bleu(["a b", "b c"], tokenizer="bpe")
    with pytest.raises(ValueError, match="max_n"):
        self_bleu(["a b", "b c"], max_n=0)
    with pytest.raises(ValueError, match="sample"):
        self_bleu(["a b", "b c"], sample=1)


def test_sample_is_seeded_and_sized(ag_news_test):
    texts = [r["text"] for r in ag_news_test[:300]]
    a, b = self_bleu(texts, sample=50, seed=1), self_bleu(texts, sample=50, seed=1)
    c = self_bleu(texts, sample=50, seed=2)
    assert a == b and a["num_texts"] == 50
    assert a["self_bleu_4"] != c["self_bleu_4"]
    assert self_bleu(texts[:20], sample=500) == self_bleu(texts[:20])


def test_tokenizers():
    text = "U.S. stocks won't fall,  analysts say."
    assert tokenize([text], "whitespace")[0][0] == ["U.S.", "stocks", "won't", "fall,", "analysts", "say."]
    assert tokenize([text], "regex")[0][0][:5] == ["U", ".", "S", ".", "stocks"]
    tokens, used = tokenize([text], "spacy", DEFAULT_SPACY)
    assert tokens[0][:4] == ["U.S.", "stocks", "wo", "n't"] and used.startswith("en_core_web")
    assert self_bleu([text, text], tokenizer="spacy")["self_bleu_spacy_model"] == used
