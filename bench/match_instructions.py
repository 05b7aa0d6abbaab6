"""Instructions per story for ``pack.match``, counted by valgrind: a figure the host cannot move.

For whoever changes ``monitor.detect.match`` on a shared machine, where ``bench_match.py``'s rates
by ±30 % between runs of the same code. This runs the same workload (``bench_match``'s stories
and generated watchlist) under ``valgrind --tool=callgrind`` twice per language, once without
and once with ``--passes`` passes over the stories after one warm-up pass, and divides the
difference by the stories matched: what one story costs in machine instructions, setup
excluded. Needs valgrind (``apt install valgrind``); about six minutes on two cores.

    .venv/bin/python bench/match_instructions.py
    .venv/bin/python bench/match_instructions.py --pack default --langs en
    .venv/bin/python bench/match_instructions.py --pack generated+default --stage assess
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

LANGS = ("all", "en", "ko", "ru")

if TYPE_CHECKING:
    from monitor.models import Story


def child(pack_name: str, lang: str, passes: int, aliases: int, count: int, stage: str) -> None:
    """The measured process: build the pack, warm up, then ``passes`` passes.

    ``stage`` is ``match`` (``pack.match`` only) or ``assess`` (``pack.match`` and, for a story
    with hits, ``assess``: the rules' cost too, as the poller pays it).
    """
    import bench_match

    from monitor.detect.assess import assess
    from monitor.detect.match import compile_pack

    rnd = random.Random(7)
    names = bench_match.generated_aliases(aliases, rnd)
    sample = bench_match.stories(count, names, rnd)
    items = [story for story in sample if lang == "all" or lang in story.tags]
    if pack_name == "generated":
        pack = bench_match.generated_pack(names, with_default=False)
    elif pack_name == "generated+default":
        pack = bench_match.generated_pack(names, with_default=True)
    else:
        sources = bench_match.load_sources
        pack = compile_pack(watchlists=sources("watchlists"), rules=sources("rules"))

    def judge(story: Story) -> None:
        hits = pack.match(story)
        if stage == "assess" and hits:
            assess(story, hits, pack)

    for story in items:
        judge(story)
    for _ in range(passes):
        for story in items:
            judge(story)
    print(f"stories={len(items)}")


def instructions(args: argparse.Namespace, lang: str, passes: int) -> tuple[int, int]:
    """(instructions collected, stories per pass) of one child run under callgrind."""
    command = [
        *("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"),
        *(sys.executable, __file__, "--child", args.pack, lang, str(passes)),
        *(str(args.aliases), str(args.stories), args.stage),
    ]
    # A fixed hash seed, so dict and set layouts (and the instructions they cost) repeat.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    collected = re.search(r"Collected : (\d+)", done.stderr)
    stories = re.search(r"stories=(\d+)", done.stdout)
    if collected is None or stories is None:
        raise SystemExit(f"could not read callgrind's count:\n{done.stderr[-2000:]}")
    return int(collected.group(1)), int(stories.group(1))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        pack_name, lang, passes, aliases, count, stage = sys.argv[2:8]
        child(pack_name, lang, int(passes), int(aliases), int(count), stage)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pack", choices=("generated", "generated+default", "default"), default="generated"
    )
    parser.add_argument(
        "--stage",
        choices=("match", "assess"),
        default="match",
        help="match: pack.match only; assess: also the rules, for stories with hits",
    )
    parser.add_argument("--aliases", type=int, default=10_000)
    parser.add_argument("--stories", type=int, default=300)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--langs", nargs="+", choices=LANGS, default=list(LANGS))
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("match_instructions: valgrind is not installed (apt install valgrind)")
    jobs = [(lang, passes) for lang in args.langs for passes in (0, args.passes)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip(jobs, pool.map(lambda job: instructions(args, *job), jobs), strict=True))
    pack = {
        "generated": f"{args.aliases:,} generated aliases",
        "generated+default": f"{args.aliases:,} generated aliases + the bundled pack",
        "default": "bundled pack",
    }[args.pack]
    stage = "pack.match" if args.stage == "match" else "pack.match + assess"
    print(f"{stage}, {pack}, {args.passes} passes after a warm-up (callgrind):")
    for lang in args.langs:
        (base, stories), (measured, _) = counts[lang, 0], counts[lang, args.passes]
        per_story = (measured - base) / (stories * args.passes)
        print(f"  {lang:<4}{per_story:>12,.0f} instructions per story ({stories} stories)")


if __name__ == "__main__":
    main()
