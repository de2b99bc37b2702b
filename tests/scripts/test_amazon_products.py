"""prepare_amazon_products.py: asin dedup, product_text cleaning, errors, streaming."""
import json
import time


def test_products_are_deduplicated_and_cleaned(run_recipe, fixtures_dir, tmp_path, read_jsonl):
    code, out, err = run_recipe("amazon_products", "--input", fixtures_dir / "All_Amazon_Meta_sample.json",
                                "--out", tmp_path)
    assert code == 0, err
    docs = {d["id"]: d for d in read_jsonl(tmp_path / "amazon_products-00000.jsonl")}
    assert list(docs) == ["B000BLEND1", "0000031852", "B00TRAIN01", "B00YOGAMAT"]  # first copy of each asin, in order
    assert docs["B000BLEND1"]["text"] == ("Acme Blender Pro\nPowerful 600W motor\nCrushes ice in seconds\n"
                                          "Features: 1. Easy to clean 2. Quiet operation, 2.5 litre jar")
    assert docs["0000031852"]["text"] == "The Salt Road\nA novel of salt & sea, told in three voices."
    assert docs["B00TRAIN01"]["text"] == "Wooden Train Set"
    assert docs["B00YOGAMAT"]["text"] == "Yoga Mat\nItem one: grip tape\nItem two: carry bag"
    assert all("<" not in d["text"] for d in docs.values())
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert (stats["duplicate_asin"], stats["no_asin"], stats["empty_text"], stats["docs"]) == (2, 1, 1, 4)
    assert not list(tmp_path.glob("*.sqlite"))


def test_missing_and_wrong_input(run_recipe, fixtures_dir, tmp_path):
    code, _, err = run_recipe("amazon_products", "--input", tmp_path / "All_Amazon_Meta.json", "--out", tmp_path / "o")
    assert code == 2 and "All_Amazon_Meta.json" in err and "nijianmo.github.io/amazon" in err
    code, _, err = run_recipe("amazon_products", "--input", fixtures_dir / "india-news-headlines.csv",
                              "--out", tmp_path / "o")
    assert code == 2 and "not Amazon 2018 metadata" in err
    code, _, err = run_recipe("amazon_products", "--input", fixtures_dir / "All_Amazon_Meta_sample.json",
                              "--out", tmp_path / "o", "--md5", "0" * 32)
    assert code == 2 and "md5" in err
    assert not (tmp_path / "o").exists()


def test_dedup_streams_through_many_products(run_recipe, tmp_path, read_jsonl):
    """200k lines (every asin twice) finish quickly; dedup state lives on disk, not in a Python set."""
    big = tmp_path / "meta.json"
    with open(big, "w") as f:
        for i in range(200_000):
            f.write(json.dumps({"asin": f"B{i % 100_000:09d}", "title": f"Product {i}",
                                "description": [f"<p>Item {i}</p>"]}) + "\n")
    start = time.time()
    code, _, err = run_recipe("amazon_products", "--input", big, "--out", tmp_path / "o", "--shard-size", "60000")
    assert code == 0, err
    assert time.time() - start < 40
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert (stats["docs"], stats["duplicate_asin"]) == (100_000, 100_000)
    assert len(list((tmp_path / "o").glob("amazon_products-*.jsonl"))) == 2
    assert read_jsonl(tmp_path / "o" / "amazon_products-00000.jsonl")[5]["text"] == "Product 5\nItem 5"
