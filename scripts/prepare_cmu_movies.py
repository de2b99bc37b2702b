#!/usr/bin/env python
"""CMU Movie Summary Corpus -> the retrieval corpus cmu_movies.

Inner join of plot_summaries.txt (wiki_movie_id <TAB> plot) with movie.metadata.tsv on wiki_movie_id;
text = the plot summary (whitespace collapsed). The metadata index (~82k movies) is held in memory; the plots stream.
Reads MovieSummaries.tar.gz directly or the extracted folder.
Output: <out>/cmu_movies-00000.jsonl with fields id (wiki_movie_id), text, title, release_date, genres.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (JsonlWriter, atomic_dir, check_md5, fail, iter_lines, normalize_ws, output_dir,  # noqa: E402
                     raw_path, require_file, write_stats)

NAME = "cmu_movies"
PLOTS, METADATA = "plot_summaries.txt", "movie.metadata.tsv"
HOW_TO_GET = ("download MovieSummaries.tar.gz from http://www.cs.cmu.edu/~ark/personas/ "
              "(CMU Movie Summary Corpus) and pass --input PATH/MovieSummaries.tar.gz (or the extracted folder)")


@contextlib.contextmanager
def open_members(source: Path):
    """Yield {file name: (binary file object, size)} for the two needed files, from a tar archive or a folder."""
    with contextlib.ExitStack() as stack:
        found = {}
        if source.is_dir():
            for name in (PLOTS, METADATA):
                hits = [p for p in (source / name, source / "MovieSummaries" / name) if p.is_file()]
                if hits:
                    found[name] = (stack.enter_context(open(hits[0], "rb")), hits[0].stat().st_size)
        else:
            require_file(source, HOW_TO_GET)
            try:
                tar = stack.enter_context(tarfile.open(source, "r:*"))
            except tarfile.TarError as exc:
                fail(f"{source} is not a readable tar archive ({exc}); {HOW_TO_GET}")
            for member in tar:
                name = Path(member.name).name
                if member.isfile() and name in (PLOTS, METADATA) and name not in found:
                    found[name] = (stack.enter_context(tar.extractfile(member)), member.size)
        missing = [n for n in (PLOTS, METADATA) if n not in found]
        if missing:
            fail(f"{source} lacks {', '.join(missing)}; {HOW_TO_GET}")
        yield found


def read_metadata(fileobj, size: int) -> dict[str, dict]:
    movies = {}
    for line in iter_lines(fileobj, desc=METADATA, total=size):
        cols = line.rstrip("\r\n").split("\t")
        if len(cols) < 9:
            fail(f"{METADATA} line has {len(cols)} tab-separated columns, expected 9: {line[:80]!r}")
        try:
            genres = list(json.loads(cols[8]).values()) if cols[8] else []
        except ValueError:
            genres = []
        movies[cols[0]] = {"title": cols[2], "release_date": cols[3], "genres": genres}
    return movies


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=raw_path("cmu_movies", "MovieSummaries.tar.gz"),
                        help="MovieSummaries.tar.gz or its extracted folder; default $SYNTHESIZRR_RAW_ROOT/cmu_movies/")
    parser.add_argument("--out", help=f"output folder (default: $SYNTHESIZRR_CORPUS_ROOT/{NAME})")
    parser.add_argument("--md5", help="expected md5 of the archive (checked when given)")
    parser.add_argument("--shard-size", type=int, default=1_000_000, help="plots per output JSONL file")
    args = parser.parse_args(argv)

    source = Path(args.input)
    if not source.exists():
        require_file(source, HOW_TO_GET)
    if source.is_file():
        check_md5(source, args.md5)
    out = output_dir(args.out, "corpus", NAME)
    stats = {"plots": 0, "docs": 0, "no_metadata": 0, "empty": 0}
    with open_members(source) as files, atomic_dir(out) as tmp:
        movies = read_metadata(*files[METADATA])
        stats["movies_with_metadata"] = len(movies)
        with JsonlWriter(tmp, NAME, args.shard_size) as writer:
            for line in iter_lines(files[PLOTS][0], desc=PLOTS, total=files[PLOTS][1]):
                movie_id, sep, plot = line.rstrip("\r\n").partition("\t")
                if not sep:
                    fail(f"{PLOTS} line is not '<wiki_movie_id><TAB><plot>': {line[:80]!r}")
                stats["plots"] += 1
                meta = movies.get(movie_id)
                text = normalize_ws(plot)
                if meta is None:
                    stats["no_metadata"] += 1
                elif not text:
                    stats["empty"] += 1
                else:
                    writer.write({"id": movie_id, "text": text, **meta})
                    stats["docs"] += 1
        write_stats(tmp, {**stats, "source": str(source)})
    print(json.dumps({"out": str(out), **stats}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
