"""conf/corpus and conf/retriever: every file validates into its schema; shipped corpora load from ../shared."""
from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from synthesizrr.compose import compose_config
from synthesizrr.core.config import CorpusConfig, RetrieverConfig
from synthesizrr.corpora import load_corpus

CONF = Path(__file__).resolve().parents[2] / "conf"
RETRIEVERS = sorted((CONF / "retriever").glob("*.yaml"))
CORPORA = sorted((CONF / "corpus").glob("*.yaml"))


def typed(path: Path, schema):
    """The group option as a run composes it (its own defaults list included, e.g. contriever_hnsw <- contriever)."""
    group = path.parent.name
    node = compose_config([f"{group}={path.stem}"])[group]
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), node))


def test_expected_files_exist():
    assert {p.stem for p in RETRIEVERS} >= {"minilm_offline", "contriever", "contriever_hnsw", "contriever_ivf",
                                             "bm25", "random"}
    assert {p.stem for p in CORPORA} >= {"bbc_embedded", "news_bbc_local", "movie_plots_local", "imdb_unsup_local",
                                          "realnews_dominant", "realnews_india", "amazon_products", "cmu_movies"}


@pytest.mark.parametrize("path", RETRIEVERS, ids=lambda p: p.stem)
def test_retriever_configs_validate_with_the_paper_bands(path):
    rc = typed(path, RetrieverConfig)
    assert rc.name == path.stem
    assert (rc.icl_ranks, rc.icl_band, rc.gen_band, rc.dedup) == ([1, 2], [0.5, 0.9], [0.4, 0.9], True)
    assert rc.top_k == 50
    if rc.model == "facebook/contriever":
        assert (rc.pooling, rc.max_length) == ("mean", 512)


@pytest.mark.parametrize("path", CORPORA, ids=lambda p: p.stem)
def test_corpus_configs_validate_with_the_paper_token_range(path):
    cc = typed(path, CorpusConfig)
    assert cc.name == path.stem
    assert (cc.min_tokens, cc.max_tokens) == (20, 400)
    assert cc.source == "bbc_embedded" or cc.path


@pytest.mark.parametrize("name, size, first_id", [("news_bbc_local", 2225, "bbc-business-001"),
                                                   ("movie_plots_local", 2427, "movielens-1")])
def test_shipped_corpora_load(shared_dir, name, size, first_id):
    ds = load_corpus(typed(CONF / "corpus" / f"{name}.yaml", CorpusConfig), str(shared_dir / "corpora"))
    assert len(ds) == size and ds[0]["doc_id"] == first_id and len(ds[0]["text"]) > 100
