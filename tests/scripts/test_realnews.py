"""prepare_realnews.py: domain partitions, the real Grover sample, errors, bounded memory."""
import json
import subprocess
import sys
import time


def _ids_by_domain(records):
    return {r["domain"] for r in records}


def test_partitions_follow_the_domain_lists(run_recipe, fixtures_dir, tmp_path, read_jsonl, scripts_dir):
    code, out, err = run_recipe("realnews", "--input", fixtures_dir / "realnews_sample.jsonl", "--out", tmp_path)
    assert code == 0, err
    parts = {p: read_jsonl(tmp_path / f"realnews_{p}" / f"realnews_{p}-00000.jsonl")
             for p in ("india", "regional", "dominant")}
    assert _ids_by_domain(parts["india"]) == {"hindustantimes.com", "timesofindia.indiatimes.com", "www.thehindu.com"}
    assert _ids_by_domain(parts["regional"]) == _ids_by_domain(parts["india"]) | {"dawn.com", "nation.co.ke"}
    assert _ids_by_domain(parts["dominant"]) == {"nytimes.com", "bbc.co.uk", "notthehindu.com"}
    regional_ids = {r["id"] for r in parts["regional"]}
    assert not regional_ids & {r["id"] for r in parts["dominant"]}
    assert {r["id"] for r in parts["india"]} <= regional_ids
    # every line is accounted for: 7 kept, 1 malformed, 1 empty
    stats = json.loads((tmp_path / "realnews_dominant" / "stats.json").read_text())
    assert stats["skipped"] == {"malformed": 1, "short": 1}
    assert len(regional_ids) + len(parts["dominant"]) == 8
    sensex = next(r for r in parts["india"] if r["title"].startswith("Sensex"))
    assert sensex["text"] == "Benchmark indices closed at a record high on Friday led by banking stocks."
    monsoon = next(r for r in parts["india"] if r["title"].startswith("Monsoon"))
    assert "\n" in monsoon["text"]  # paragraphs kept
    # every shipped domain list entry is a bare lower-case domain and india is inside regional
    domains = json.loads((scripts_dir / "data" / "realnews_domains.json").read_text())
    assert (len(domains["india"]), len(domains["regional"])) == (26, 141)
    assert set(domains["india"]) <= set(domains["regional"])
    assert all(d == d.lower().strip() and "/" not in d and not d.startswith("www.") for d in domains["regional"])


def test_real_grover_sample(run_recipe, shared_dir, tmp_path, read_jsonl):
    sample = shared_dir / "corpora" / "realnews" / "realnews_tiny.jsonl"
    code, out, err = run_recipe("realnews", "--input", sample, "--out", tmp_path, "--partitions", "dominant",
                                "regional")
    assert code == 0, err
    dominant = read_jsonl(tmp_path / "realnews_dominant" / "realnews_dominant-00000.jsonl")
    originals = [json.loads(line) for line in sample.read_text(encoding="utf-8").splitlines()]
    assert len(dominant) == len(originals) == 5  # all five are US/UK/EU sites, none regional
    assert [r["url"] for r in dominant] == [o["url"] for o in originals]
    assert dominant[0]["text"].startswith("by In the news\nby Dan Lucas")
    assert read_jsonl(tmp_path / "realnews_regional" / "realnews_regional-00000.jsonl") == []
    assert not (tmp_path / "realnews_india").exists()


def test_domains_file_and_max_docs(run_recipe, fixtures_dir, tmp_path, read_jsonl):
    domains = tmp_path / "domains.json"
    domains.write_text(json.dumps({"india": [], "regional": ["nytimes.com"]}))
    code, _, err = run_recipe("realnews", "--input", fixtures_dir / "realnews_sample.jsonl", "--out", tmp_path / "o",
                              "--domains-file", domains, "--partitions", "regional", "--max-docs", "7")
    assert code == 0, err
    assert [r["domain"] for r in read_jsonl(tmp_path / "o" / "realnews_regional" / "realnews_regional-00000.jsonl")] \
        == ["nytimes.com"]


def test_missing_input_and_bad_files(run_recipe, tmp_path):
    code, _, err = run_recipe("realnews", "--input", tmp_path / "realnews.jsonl", "--out", tmp_path / "o")
    assert code == 2
    assert "realnews.jsonl" in err and "docs.google.com/forms" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "no text field"}\n')
    code, _, err = run_recipe("realnews", "--input", bad, "--out", tmp_path / "o")
    assert code == 2 and "'text'" in err
    assert not (tmp_path / "o" / "realnews_dominant").exists()

    domains = tmp_path / "d.json"
    domains.write_text('{"india": []}')
    code, _, err = run_recipe("realnews", "--input", bad, "--out", tmp_path / "o", "--domains-file", domains)
    assert code == 2 and "'regional'" in err


def test_no_output_root_is_a_one_line_error(run_recipe, fixtures_dir):
    code, _, err = run_recipe("realnews", "--input", fixtures_dir / "realnews_sample.jsonl")
    assert code == 2 and "SYNTHESIZRR_CORPUS_ROOT" in err


MEASURE = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def test_memory_stays_bounded_on_a_large_input(scripts_dir, tmp_path):
    """A ~140 MB input goes through with a peak RSS far below its size: the recipe streams."""
    body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 60
    big = tmp_path / "realnews.jsonl"
    with open(big, "w") as f:
        for i in range(40_000):
            domain = ("dawn.com", "nytimes.com", "hindustantimes.com")[i % 3]
            f.write(json.dumps({"title": f"t{i}", "text": f"{i} {body}", "url": f"https://www.{domain}/{i}",
                                "domain": domain}) + "\n")
    size_mb = big.stat().st_size / 2**20
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, str(scripts_dir / "prepare_realnews.py"),
                           "--input", str(big), "--out", str(tmp_path / "out"), "--shard-size", "15000"],
                          capture_output=True, text=True, check=True)
    peak_mb = int(proc.stdout.strip()) / 1024
    assert size_mb > 130
    assert peak_mb < 100, f"peak RSS {peak_mb:.0f} MB for a {size_mb:.0f} MB input"
    assert time.time() - start < 60
    shards = sorted(p.name for p in (tmp_path / "out" / "realnews_regional").glob("*.jsonl"))
    assert shards == ["realnews_regional-00000.jsonl", "realnews_regional-00001.jsonl"]  # 26,667 docs
