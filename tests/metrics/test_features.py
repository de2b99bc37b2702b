"""Featurizers (real MiniLM, a small randomly initialised GPT-2 built here) and the on-disk feature cache."""
import numpy as np
import pytest
import torch

from metrics.features import FeatureCache, encode, featurize, featurizer_kind, text_key
from synthesizrr.core.assets import resolve_model

TEXTS = ["A man is playing a guitar.", "Someone plays the guitar.", "Stocks fell sharply on Wall Street today.", ""]


def test_minilm_features_equal_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    ours = encode(TEXTS, "offline:minilm", max_length=256, device="cpu", batch_size=3, progress=False)
    st = SentenceTransformer(resolve_model("offline:minilm"), device="cpu")
    theirs = st.encode(TEXTS, normalize_embeddings=True, batch_size=3)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert ours[0] @ ours[1] > 0.7 > 0.2 > ours[0] @ ours[2]


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    """A 2-layer GPT-2 with random weights and a word-level tokenizer, saved like a hub checkpoint."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    words = "the a cat dog sat ran on mat fast slow and".split()
    vocab = {"<eos>": 0, "<unk>": 1, **{w: i + 2 for i, w in enumerate(words)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path_factory.mktemp("tiny_gpt2")
    PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>", unk_token="<unk>").save_pretrained(path)
    torch.manual_seed(0)
    GPT2Model(GPT2Config(vocab_size=len(vocab), n_embd=16, n_layer=2, n_head=2, n_positions=32)).save_pretrained(path)
    return str(path)


def test_causal_features_are_the_last_token_state_whatever_the_batching(tiny_gpt2):
    from transformers import AutoModel, AutoTokenizer

    texts = ["the cat sat", "a dog ran fast on the mat and the cat sat", "", "dog"]
    assert featurizer_kind(tiny_gpt2) == "causal"
    batched = encode(texts, tiny_gpt2, max_length=6, device="cpu", batch_size=4, progress=False)
    single = encode(texts, tiny_gpt2, max_length=6, device="cpu", batch_size=1, progress=False)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    tok, model = AutoTokenizer.from_pretrained(tiny_gpt2), AutoModel.from_pretrained(tiny_gpt2).eval()
    for text, row in zip(texts, batched):
        ids = tok(text or "<eos>")["input_ids"][:6]  # truncated to max_length; empty text -> end-of-text
        with torch.no_grad():
            state = model(torch.tensor([ids])).last_hidden_state[0, -1].numpy()
        np.testing.assert_allclose(row, state, atol=1e-5)


def test_featurizer_kinds():
    assert featurizer_kind("offline:minilm") == "sentence"
    assert featurizer_kind("sentence-transformers/all-mpnet-base-v2") == "sentence"
    assert featurizer_kind("gpt2-xl") == "causal"


def test_cache_round_trip_and_hits(tmp_path):
    toy = FeatureCache(tmp_path, "toy/featurizer", 64)
    toy.put(["k1", "k2"], np.array([[1, 2], [3, 4]], dtype=np.float32))
    toy.put(["k2", "k3"], np.array([[9, 9], [5, 6]], dtype=np.float32))  # k2 keeps its first vector
    assert len(toy) == 3
    assert {k: v.tolist() for k, v in toy.get(["k1", "k2", "k3", "k4"]).items()} == {
        "k1": [1, 2], "k2": [3, 4], "k3": [5, 6]}

    texts = ["same text", "same text", "other text"]
    first, encoded_first = featurize(texts, "offline:minilm", 64, tmp_path, device="cpu", progress=False)
    second, encoded_second = featurize(texts[::-1], "offline:minilm", 64, tmp_path, device="cpu", progress=False)
    assert (encoded_first, encoded_second) == (2, 0)  # duplicates encoded once, then all from the cache
    np.testing.assert_array_equal(first[::-1], second)
    with pytest.raises(ValueError, match="shape"):
        toy.put(["k9"], np.zeros((1, 3), dtype=np.float32))
    cache = FeatureCache(tmp_path, "offline:minilm", 64)
    np.testing.assert_array_equal(cache.get([text_key("same text")])[text_key("same text")], first[0])
    other_length = FeatureCache(tmp_path, "offline:minilm", 128)
    assert len(other_length) == 0  # max_length is part of the cache key
