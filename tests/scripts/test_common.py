"""Shared recipe helpers: cleaning, split assignment, atomic output, streaming readers."""
import bz2
import gzip

import pytest


def test_strip_html_blocks_become_newlines_and_scripts_vanish(common):
    html = "<b>Powerful</b> motor<br>Crushes ice<script>var x = 1;</script> &amp; more<ul><li>one</li><li>two</li></ul>"
    text = common.normalize_ws(common.strip_html(html), keep_newlines=True)
    assert text == "Powerful motor\nCrushes ice & more\none\ntwo"
    assert common.strip_html("plain text, no markup") == "plain text, no markup"
    assert common.strip_html("I <3 it") == "I <3 it"


def test_normalize_ws(common):
    assert common.normalize_ws("  a \t b\n\n c  ") == "a b c"
    assert common.normalize_ws("  a \t b\n\n c\u00a0 d ", keep_newlines=True) == "a b\nc d"


def test_space_list_numbers_fixes_glued_items_only(common):
    fix = common.space_list_numbers
    assert fix("Features: 1.Easy to clean 2.Quiet") == "Features: 1. Easy to clean 2. Quiet"
    untouched = "a 2.5 litre jar, v1.2 firmware, site1.com, 3. spaced"
    assert fix(untouched) == untouched


def test_split_assigner_meets_quotas_disjointly_and_is_seeded(common):
    counts = {"a": 1000, "b": 300}
    quotas = {"a": {"train": 100, "test": 50}, "b": {"train": 100, "test": 50}}

    def run(seed):
        assign = common.SplitAssigner(counts, quotas, seed)
        return {g: [assign(g) for _ in range(n)] for g, n in counts.items()}

    first = run(42)
    for group, splits in first.items():
        assert splits.count("train") == 100 and splits.count("test") == 50
        assert splits.count(None) == counts[group] - 150
    assert run(42) == first
    assert run(7) != first
    # rows are spread over the whole file, not taken from its head
    positions = [i for i, s in enumerate(first["a"]) if s == "train"]
    assert max(positions) > 500


def test_split_assigner_refuses_quotas_larger_than_the_group(common):
    with pytest.raises(SystemExit) as exc:
        common.SplitAssigner({"a": 10}, {"a": {"train": 8, "test": 5}}, 0)
    assert exc.value.code == 2


def test_atomic_dir_keeps_previous_output_when_the_recipe_fails(common, tmp_path):
    out = tmp_path / "ds"
    with common.atomic_dir(out) as tmp:
        (tmp / "train.jsonl").write_text("old\n")
    with pytest.raises(RuntimeError):
        with common.atomic_dir(out) as tmp:
            (tmp / "train.jsonl").write_text("half-written\n")
            raise RuntimeError("boom")
    assert (out / "train.jsonl").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_jsonl_writer_shards(common, tmp_path, read_jsonl):
    with common.JsonlWriter(tmp_path, "corpus", shard_size=2) as writer:
        for i in range(5):
            writer.write({"id": str(i), "text": f"doc {i}"})
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["corpus-00000.jsonl", "corpus-00001.jsonl", "corpus-00002.jsonl"]
    assert [r["id"] for f in files for r in read_jsonl(tmp_path / f)] == ["0", "1", "2", "3", "4"]


def test_iter_lines_reads_compressed_files_and_latin1_lines(common, tmp_path):
    payload = "caf\u00e9 au lait\n".encode("utf-8") + "na\u00efve\n".encode("latin-1")
    for name, opener in (("x.txt.gz", gzip.open), ("x.txt.bz2", bz2.open)):
        with opener(tmp_path / name, "wb") as f:
            f.write(payload)
        assert list(common.iter_lines(tmp_path / name)) == ["caf\u00e9 au lait\n", "na\u00efve\n"]
