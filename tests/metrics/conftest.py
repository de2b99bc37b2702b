"""Fixtures for the metrics tests: real texts from the shared data folder and one feature cache per session."""
import json

import pytest


def _read_jsonl(path, limit=None):
    rows = []
    with open(path) as f:
        for line in f:
            rows.append(json.loads(line))
            if limit is not None and len(rows) >= limit:
                break
    return rows


@pytest.fixture(scope="session")
def ag_news_test(shared_dir):
    """AG News test rows ({"text", "label", ...})."""
    return _read_jsonl(shared_dir / "data" / "ag_news" / "test.jsonl")


@pytest.fixture(scope="session")
def imdb_texts(shared_dir):
    """2,000 IMDb test reviews (every 12th row, so both polarities appear)."""
    return [r["text"] for r in _read_jsonl(shared_dir / "data" / "imdb" / "test.jsonl")][::12]


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory):
    """A feature cache shared by the tests of one session, so each text is encoded once."""
    return tmp_path_factory.mktemp("feature_cache")
