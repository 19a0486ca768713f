"""Prints mutmut's results per module: killed, survived, not covered, and the score (killed over
all mutants); then every survivor's name (``mutmut show NAME`` prints its diff). Exit 1 when a
module scores under --min (percent)."""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mutmut", default="mutmut")
    parser.add_argument("--min", type=float, default=0.0, help="lowest acceptable score per module, in percent")
    args = parser.parse_args()
    out = subprocess.run([args.mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    survivors = []
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name:
            continue
        module = name.split(".x_")[0].split(".xǁ")[0]
        counts[module][status] += 1
        if status == "survived":
            survivors.append(name)
    low = False
    print(f"{'module':<32} {'mutants':>7} {'killed':>7} {'survived':>8} {'no tests':>8} {'score':>6}")
    for module, c in sorted(counts.items()):
        total = sum(c.values())
        score = 100 * c["killed"] / total
        low |= score < args.min
        print(f"{module:<32} {total:>7} {c['killed']:>7} {c['survived']:>8} {c['no tests']:>8} {score:>5.1f}%")
    every = sum((c for c in counts.values()), collections.Counter())
    print(
        f"{'all':<32} {sum(every.values()):>7} {every['killed']:>7} {every['survived']:>8} {every['no tests']:>8} "
        f"{100 * every['killed'] / max(sum(every.values()), 1):>5.1f}%"
    )
    print(f"\nsurvivors ({len(survivors)}; `mutmut show NAME` prints a diff):")
    for name in survivors:
        print(f"  {name}")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
