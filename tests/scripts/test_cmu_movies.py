"""prepare_cmu_movies.py: inner join of plots and metadata, from the tar.gz or the extracted folder."""
import json
import tarfile

import pytest


@pytest.fixture
def archive(fixtures_dir, tmp_path):
    path = tmp_path / "MovieSummaries.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(fixtures_dir / "cmu" / "MovieSummaries", arcname="MovieSummaries")
    return path


@pytest.mark.parametrize("source", ["archive", "folder"])
def test_inner_join_on_wiki_movie_id(source, archive, run_recipe, fixtures_dir, tmp_path, read_jsonl):
    given = archive if source == "archive" else fixtures_dir / "cmu"
    code, _, err = run_recipe("cmu_movies", "--input", given, "--out", tmp_path / "o")
    assert code == 0, err
    docs = read_jsonl(tmp_path / "o" / "cmu_movies-00000.jsonl")
    assert [d["id"] for d in docs] == ["910001", "910002", "910003"]  # 999999 has no metadata, 910004 no plot
    assert docs[0]["title"] == "The Lighthouse Keeper" and docs[0]["genres"] == ["Drama", "Thriller"]
    assert docs[0]["text"].endswith("he begins to suspect that the previous keeper never left.")
    assert docs[2]["genres"] == []
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert (stats["plots"], stats["no_metadata"], stats["movies_with_metadata"]) == (4, 1, 4)


def test_missing_and_incomplete_input(run_recipe, fixtures_dir, tmp_path):
    code, _, err = run_recipe("cmu_movies", "--input", tmp_path / "MovieSummaries.tar.gz", "--out", tmp_path / "o")
    assert code == 2 and "MovieSummaries.tar.gz" in err and "cs.cmu.edu/~ark/personas" in err
    partial = tmp_path / "partial.tar.gz"
    with tarfile.open(partial, "w:gz") as tar:
        tar.add(fixtures_dir / "cmu" / "MovieSummaries" / "plot_summaries.txt",
                arcname="MovieSummaries/plot_summaries.txt")
    code, _, err = run_recipe("cmu_movies", "--input", partial, "--out", tmp_path / "o")
    assert code == 2 and "movie.metadata.tsv" in err
    not_tar = tmp_path / "plots.tar.gz"
    not_tar.write_text("not an archive")
    code, _, err = run_recipe("cmu_movies", "--input", not_tar, "--out", tmp_path / "o")
    assert code == 2 and "not a readable tar archive" in err
    assert not (tmp_path / "o").exists()
