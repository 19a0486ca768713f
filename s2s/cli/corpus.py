"""``s2s corpus-report`` and ``s2s download-corpus``: read or fetch a corpus directory."""

from __future__ import annotations

import argparse
import os

from components.params import ENCODINGS
from pipeline.config import SAMPLE_DATA_DIR
from s2s.cli.common import fail, float_in


def register(sub: argparse._SubParsersAction) -> None:
    from components.download import OFFICIAL_URL

    report = sub.add_parser("corpus-report", help="read a corpus directory and print what the loader kept and skipped")
    report.add_argument("--data", default=str(SAMPLE_DATA_DIR), help="corpus directory (default: the embedded sample)")
    report.add_argument("--encoding", default="auto", choices=ENCODINGS)
    report.set_defaults(func=report_main)

    dl = sub.add_parser("download-corpus", help="fetch the official corpus zip, check it and unpack it")
    dl.add_argument("--url", default=OFFICIAL_URL, help=f"zip to fetch (default: {OFFICIAL_URL})")
    dl.add_argument("--dest", default=os.path.join("data", "cornell"), help="directory to unpack into (default: data/cornell)")
    dl.add_argument("--sha256", help="expected sha256 of the zip; the download is rejected if it differs")
    dl.add_argument("--timeout", type=float_in(0.1, 3600), default=60.0, help="network timeout in seconds (default 60)")
    dl.add_argument("--force", action="store_true", help="replace an existing corpus in --dest")
    dl.set_defaults(func=download_main)


def report_main(args: argparse.Namespace) -> int:
    from components.cornell import CorpusError, load_corpus

    try:
        pairs, report = load_corpus(args.data, args.encoding)
    except CorpusError as exc:
        return fail(str(exc))
    print(report.summary())
    print(f"encodings: {report.encodings}")
    print(f"movies with pairs: {len({p.movie_id for p in pairs})}")
    return 0


def download_main(args: argparse.Namespace) -> int:
    from components import download
    from components.cornell import CorpusError

    try:
        target = download.download_corpus(args.url, args.dest, sha256=args.sha256, timeout=args.timeout, force=args.force)
    except (download.DownloadError, CorpusError) as exc:
        return fail(str(exc))
    print(f"corpus ready: {target}\nrun it with: s2s run --data '{target}'")
    return 0
