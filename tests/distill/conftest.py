"""Shared fixtures: real BBC ledes (short news first sentences, 5 labels) and a fast MiniLM student config."""
import random

import pytest

from synthesizrr.core.config import StudentConfig
from synthesizrr.core.assets import BBC_LABELS, bbc_articles


@pytest.fixture(scope="session")
def labels() -> list[str]:
    return list(BBC_LABELS)


@pytest.fixture(scope="session")
def ledes() -> list[dict]:
    """All 2,225 BBC ledes as {"text", "label"}, in a seeded shuffled order."""
    rows = [{"text": a["lede"], "label": a["label"]} for a in bbc_articles() if a["lede"]]
    random.Random(0).shuffle(rows)
    return rows


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The test machine is shared by concurrent jobs; with 2 threads per process OpenMP spin-waits made steps
    3-5x slower than with 1. Results do not depend on the thread count beyond float rounding."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="session")
def deberta_cache(tmp_path_factory):
    """Keep the tiny DeBERTa tokenizer cache inside the test session."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SYNTHESIZRR_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def minilm():
    """Factory of fast MiniLM student configs on CPU; keyword arguments override fields."""
    return _minilm


def _minilm(**overrides) -> StudentConfig:
    base = dict(name="test_minilm", model="offline:minilm", lr=5e-5, batch_size=32, epochs=1, max_length=48,
                seeds=[0], device="cpu")
    return StudentConfig(**{**base, **overrides})


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """A local 2-layer, 32-wide BERT (random weights, MiniLM's tokenizer): fit() runs on it in well under a second,
    for tests of the training loop itself rather than of learning."""
    from transformers import AutoTokenizer, BertConfig, BertModel, set_seed

    from synthesizrr.core.assets import resolve_model

    path = tmp_path_factory.mktemp("tiny_bert")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("offline:minilm"))
    set_seed(0)
    model = BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=64, max_position_embeddings=64))
    for name, p in model.named_parameters():
        if name.endswith("bias"):  # non-zero, as in a trained model, so that tests can see them shrink
            p.data.normal_(0, 0.1)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)
