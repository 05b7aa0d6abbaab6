"""Peak memory of ``sanctions-monitor once`` over many loopback feeds, and where the config load's
memory goes (issue 16 point 3).

    .venv/bin/python bench/bench_once.py                   # 1,000 feeds; bundled, +10k aliases
    .venv/bin/python bench/bench_once.py --tree today=/tmp/base --tree now=.   # two commits
    .venv/bin/python bench/bench_once.py --feeds 100 --aliases 1000            # quick

For whoever watches the daemon's footprint. A feed server in a child process serves ``--feeds``
synthetic RSS feeds (50 items of ~2 KB). For each tree, ``once`` runs as a subprocess (``python -m
monitor --config … once``) twice: with the bundled pack, and with ``--aliases`` generated aliases
(a third Latin, Hangul, Cyrillic) added as one more watchlist. Peak RSS is VmHWM of the process
plus that of each child (the parser workers), sampled every 20 ms until each exits, summed.

Then, in this process, ``tracemalloc`` over ``load_config`` with the extra aliases: what the
loaded ``Settings`` still holds, by source file, after a ``gc.collect()``.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def run_once(tree: Path, config: Path) -> tuple[float, float, str]:
    """``once`` from ``tree``: (peak MB summed over the process tree, wall s, its summary)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "LOG_FORMAT": "json"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "once"],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    peaks: dict[int, int] = {}
    while proc.poll() is None:
        for pid in [proc.pid, *children(proc.pid)]:
            peaks[pid] = max(peaks.get(pid, 0), hwm_kb(pid))
        time.sleep(0.02)
    out = proc.stdout.read() if proc.stdout else ""
    summary = next((line for line in reversed(out.splitlines()) if "feeds" in line), "")
    return sum(peaks.values()) / 1024, time.perf_counter() - started, summary[:120]


def write_configs(
    folder: Path, ports: list[int], feeds: int, aliases: int, tree: Path = REPO
) -> dict[str, Path]:
    import yaml
    from bench_match import generated_aliases

    from tests.support import write_config

    specs = [
        {"id": f"f{n}", "url": f"http://127.0.0.1:{ports[n % len(ports)]}/feed/{n}.xml"}
        for n in range(feeds)
    ]
    quiet = [{"id": "console", "type": "console", "min_severity": "critical"}]
    extra = {"log": {"level": "WARNING"}, "http": {"timeout_s": 60}}
    (folder / "a").mkdir()
    (folder / "b").mkdir()  # each run its own state: both find every story new
    bundled = write_config(folder / "a", feeds=specs, destinations=quiet, extra=extra)
    names = generated_aliases(aliases, random.Random(16))
    entities = [
        {"id": f"gen-{i}", "type": "person", "side": "other", "aliases": [name]}
        for i, name in enumerate(names)
    ]
    watchlist = folder / "generated.yaml"
    watchlist.write_text(
        yaml.safe_dump({"watchlist": "generated", "entities": entities}, allow_unicode=True),
        encoding="utf-8",
    )
    if "allow_networks" not in (tree / "monitor" / "service" / "config.py").read_text():
        older = yaml.safe_load(bundled.read_text(encoding="utf-8"))  # a commit before the key
        older["http"].pop("allow_networks", None)
        bundled.write_text(yaml.safe_dump(older, allow_unicode=True), encoding="utf-8")
    data = yaml.safe_load(bundled.read_text(encoding="utf-8"))
    data["watchlists"].append(str(watchlist))
    data["state"]["path"] = str(folder / "b" / "state" / "monitor.db")
    big = folder / "b" / "monitor.yaml"
    big.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return {"bundled pack": bundled, f"+{aliases} aliases": big}


def config_trace(config: Path, tree: Path, top: int = 12) -> None:
    """What the loaded settings still hold, by file, measured with tracemalloc."""
    sys.path.insert(0, str(tree))
    from monitor.service.config import load_config

    gc.collect()
    rss0 = status_mb("VmRSS")
    settings = load_config(config)  # once untraced, for the resident-set growth
    gc.collect()
    grown = status_mb("VmRSS") - rss0
    del settings
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    settings = load_config(config)
    _, peak = tracemalloc.get_traced_memory()
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    stats = after.compare_to(before, "filename")
    held = sum(s.size_diff for s in stats)
    print(
        f"\nconfig load with the extra aliases (tree {tree}): resident set +{grown:.0f} MB "
        f"(untraced); tracemalloc: peak {peak / 2**20:.1f} MB while loading, "
        f"{held / 2**20:.1f} MB still held by the settings; by file:"
    )
    for stat in stats[:top]:
        name = "/".join(Path(stat.traceback[0].filename).parts[-3:])
        print(f"  {stat.size_diff / 2**20:8.2f} MB  {stat.count_diff:>8} blocks  {name}")
    del settings


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--feeds", type=int, default=1000)
    args.add_argument("--items", type=int, default=50)
    args.add_argument("--item-bytes", type=int, default=2000)
    args.add_argument("--aliases", type=int, default=10_000)
    args.add_argument("--hosts", type=int, default=50)
    args.add_argument("--tree", action="append", default=[], metavar="LABEL=DIR")
    args.add_argument(
        "--config-only", action="store_true", help="only the config load's memory, per tree"
    )
    args.add_argument("--trace", nargs=2, metavar=("CONFIG", "TREE"), help=argparse.SUPPRESS)
    opts = args.parse_args()
    if opts.trace:  # one tree's config load in a process of its own (see --config-only)
        config_trace(Path(opts.trace[0]), Path(opts.trace[1]))
        return 0
    trees = [(label, Path(path).resolve()) for label, path in (t.split("=", 1) for t in opts.tree)]
    trees = trees or [("ours", REPO)]
    if opts.config_only:
        with tempfile.TemporaryDirectory(prefix="bench_once-") as tmp:
            for label, tree in trees:
                (Path(tmp) / label).mkdir()
                configs = write_configs(Path(tmp) / label, [1], 1, opts.aliases, tree)
                config = configs[f"+{opts.aliases} aliases"]
                subprocess.run([sys.executable, __file__, "--trace", str(config), str(tree)])
        return 0

    from tests.servers.feed_server import serve_synthetic

    ctx = multiprocessing.get_context("spawn")
    port_in, port_out = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    server = ctx.Process(
        target=serve_synthetic,
        args=(opts.feeds, opts.items, port_out, stop, opts.hosts, opts.item_bytes),
    )
    server.start()
    ports = port_in.recv()
    results: list[tuple[str, str, float, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench_once-") as tmp:
        try:
            for label, tree in trees:
                folder = Path(tmp) / label
                folder.mkdir()
                configs = write_configs(folder, ports, opts.feeds, opts.aliases, tree)
                for pack, config in configs.items():
                    results.append((label, pack, *run_once(tree, config)))
        finally:
            stop.set()
            server.join(timeout=10)
        report(results, opts)
        config_trace(write_configs(Path(tmp), ports, 1, opts.aliases)[f"+{opts.aliases} aliases"],
                     trees[-1][1])  # fmt: skip
    return 0


def report(results: list[Any], opts: argparse.Namespace) -> None:
    print(
        f"bench_once: `once` over {opts.feeds} loopback feeds x {opts.items} items of "
        f"~{opts.item_bytes} bytes; peak RSS = process + parser workers\n"
    )
    print(f"{'tree':<10} {'pack':<20} {'peak MB':>8} {'wall s':>7}  summary")
    for label, pack, peak, wall, summary in results:
        print(f"{label:<10} {pack:<20} {peak:>8.1f} {wall:>7.1f}  {summary}")
    targets = {"bundled pack": 150.0, f"+{opts.aliases} aliases": 180.0}
    for label, pack, peak, _, _ in results:
        target = targets[pack]
        verdict = "PASS" if peak <= target else "FAIL"
        print(f"{label}, {pack}: {peak:.0f} MB (target <= {target:.0f} MB): {verdict}")


if __name__ == "__main__":
    sys.exit(main())
