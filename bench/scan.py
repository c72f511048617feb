#!/usr/bin/env python3
"""Benchmark `vigil scan` against the tools people would otherwise use, on the same data.

    python3 bench/scan.py [--events 1000000] [--shared ../shared] [--python-kql PATH] [--runs 3]
                          [--previous PATH]

Generates Office 365 data with ../shared/tools/gen_o365.py (ECS and raw shapes), builds vigil in
release mode, runs every command `--runs` times on page-cached input, and prints a table of the
median time, MB/s, events/s, peak RSS and the ratio to vigil. Comparison tools run when present:
`cat`, `rg` (ripgrep), `jq`, and Elastic's Python `kql` evaluator when `--python-kql` names the
folder that holds its package (detection-rules' `lib/kql`), and an earlier vigil binary when
`--previous` names one (each vigil row then runs with it too, in the same run). Nothing here is
asserted: these are measurements, for docs/performance.md.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DKIM = ('event.dataset:o365.audit and event.provider:Exchange and event.category:web and '
        'event.action:"Set-DkimSigningConfig" and o365.audit.Parameters.Enabled:False and event.outcome:success')


def run(cmd, stdin=None):
    """Runs `cmd` (stdout discarded); returns (seconds, peak RSS in KB or None)."""
    timer = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    full = ([timer, "-f", "%M"] if timer else []) + cmd
    start = time.perf_counter()
    proc = subprocess.run(full, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    rss = None
    if timer:
        try:
            rss = int(proc.stderr.strip().splitlines()[-1])
        except (ValueError, IndexError):
            pass
    return elapsed, rss


def measure(cmd, runs, stdin_path=None):
    results = []
    for _ in range(runs):
        if stdin_path:
            with open(stdin_path, "rb") as stdin:
                results.append(run(cmd, stdin))
        else:
            results.append(run(cmd))
    seconds = statistics.median(r[0] for r in results)
    rss = max((r[1] for r in results if r[1] is not None), default=None)
    return seconds, rss


def o365_rules(shared, out_dir, types=("query",)):
    """Copies the corpus's KQL rules of `types` for o365 indices into out_dir; returns how many."""
    os.makedirs(out_dir, exist_ok=True)
    count = 0
    for dirpath, _, files in os.walk(os.path.join(shared, "corpus", "detection-rules")):
        for name in files:
            if not name.endswith(".toml"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                rule = tomllib.load(f).get("rule", {})
            if rule.get("language") == "kuery" and rule.get("type") in types and any("o365" in i for i in rule.get("index", [])):
                shutil.copy(path, os.path.join(out_dir, name))
                count += 1
    return count


def query_rules(shared, out_dir):
    """Copies every KQL query rule of the corpus into out_dir; returns how many."""
    os.makedirs(out_dir, exist_ok=True)
    count = 0
    for dirpath, _, files in os.walk(os.path.join(shared, "corpus", "detection-rules")):
        for name in files:
            path = os.path.join(dirpath, name)
            if not name.endswith(".toml"):
                continue
            with open(path, "rb") as f:
                rule = tomllib.load(f).get("rule", {})
            if rule.get("language") == "kuery" and rule.get("type") == "query":
                shutil.copy(path, os.path.join(out_dir, f"{count:04}-{name}"))
                count += 1
    return count


PYTHON_KQL = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
import kql
match = kql.get_evaluator(kql.parse(sys.argv[2]))
n = 0
for line in open(sys.argv[3]):
    if match(json.loads(line)):
        n += 1
print(n)
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--data", default=os.path.join("/tmp", "vigil-bench"))
    ap.add_argument("--python-kql", help="folder holding Elastic's Python kql package")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--previous", help="an earlier vigil binary to run every vigil row with too")
    args = ap.parse_args()

    gen = os.path.join(args.shared, "tools", "gen_o365.py")
    if not os.path.exists(gen):
        sys.exit(f"gen_o365.py not found under {args.shared} (give --shared)")
    os.makedirs(args.data, exist_ok=True)
    ecs = os.path.join(args.data, f"ecs-{args.events}.ndjson")
    raw = os.path.join(args.data, f"raw-{args.events}.ndjson")
    for path, shape in ((ecs, "ecs"), (raw, "raw")):
        if not os.path.exists(path):
            print(f"generating {path} ...", file=sys.stderr)
            with open(path, "w") as out:
                subprocess.run([sys.executable, gen, "--count", str(args.events), "--shape", shape, "--seed", "7"], stdout=out, check=True)
    rules_dir = os.path.join(args.data, "o365-rules")
    shutil.rmtree(rules_dir, ignore_errors=True)
    rule_count = o365_rules(args.shared, rules_dir)
    corpus_dir = os.path.join(args.data, "corpus-query-rules")
    shutil.rmtree(corpus_dir, ignore_errors=True)
    corpus_count = query_rules(args.shared, corpus_dir)

    print("building vigil (release) ...", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "vigil"], cwd=ROOT, check=True)
    vigil = os.path.join(ROOT, "target", "release", "vigil")

    ecs_mb = os.path.getsize(ecs) / 1e6
    raw_mb = os.path.getsize(raw) / 1e6
    rows = []  # (task, tool, seconds, rss, megabytes)

    def add(task, tool, cmd, mb, stdin=None):
        seconds, rss = measure(cmd, args.runs, stdin)
        rows.append((task, tool, seconds, rss, mb))
        print(f"  {task:<38} {tool:<28} {seconds:8.2f} s", file=sys.stderr)
        if args.previous and cmd[0] == vigil:
            seconds, rss = measure([args.previous, *cmd[1:]], args.runs, stdin)
            rows.append((task, "previous " + tool, seconds, rss, mb))
            print(f"  {task:<38} {'previous ' + tool:<28} {seconds:8.2f} s", file=sys.stderr)

    subprocess.run(["cat", ecs], stdout=subprocess.DEVNULL)  # warm the page cache
    add("read the file", "cat", ["cat", ecs], ecs_mb)
    if shutil.which("rg"):
        add("find Set-DkimSigningConfig lines", "rg -c", ["rg", "-c", "Set-DkimSigningConfig", ecs], ecs_mb)
    add("DKIM rule", "vigil scan (built-in pack)", [vigil, "scan", "-q", "--output", "jsonl", ecs], ecs_mb)
    add("DKIM rule, one core", "vigil scan --threads 1", [vigil, "scan", "-q", "--threads", "1", "--output", "jsonl", ecs], ecs_mb)
    add("DKIM query", "vigil kql match -c", [vigil, "kql", "match", "-c", DKIM, ecs], ecs_mb)
    if shutil.which("jq"):
        jq_filter = ('select(.event.dataset=="o365.audit" and .event.provider=="Exchange" and (.event.category|index("web")) '
                     'and .event.action=="Set-DkimSigningConfig" and .o365.audit.Parameters.Enabled=="False" and .event.outcome=="success")')
        add("DKIM query", "jq -c", ["jq", "-c", jq_filter, ecs], ecs_mb)
    if args.python_kql:
        add("DKIM query", "Elastic's Python kql", [sys.executable, "-c", PYTHON_KQL, args.python_kql, DKIM, ecs], ecs_mb)
    add(f"all {rule_count} o365 KQL query rules", "vigil scan --rules", [vigil, "scan", "-q", "--output", "jsonl", "--rules", rules_dir, ecs], ecs_mb)
    add(f"all {rule_count} o365 KQL query rules, one core", "vigil scan --rules --threads 1",
        [vigil, "scan", "-q", "--threads", "1", "--output", "jsonl", "--rules", rules_dir, ecs], ecs_mb)
    add(f"all {corpus_count} corpus KQL query rules, one core", "vigil scan --rules --threads 1",
        [vigil, "scan", "-q", "--threads", "1", "--output", "jsonl", "--rules", corpus_dir, ecs], ecs_mb)
    add("every line decoded and matched", "vigil kql match -c", [vigil, "kql", "match", "-c", "not event.action:x", ecs], ecs_mb)
    add("normalize raw records", "vigil o365 normalize", [vigil, "o365", "normalize", raw], raw_mb)
    subprocess.run(["cat", raw], stdout=subprocess.DEVNULL)
    add("read the raw file", "cat", ["cat", raw], raw_mb)
    add("DKIM rule on raw records", "vigil scan (built-in pack)", [vigil, "scan", "-q", "--output", "jsonl", raw], raw_mb)
    add("DKIM rule on raw records, one core", "vigil scan --threads 1",
        [vigil, "scan", "-q", "--threads", "1", "--output", "jsonl", raw], raw_mb)

    print()
    print(f"{args.events:,} events, ECS {ecs_mb:,.0f} MB, raw {raw_mb:,.0f} MB; median of {args.runs} runs")
    print(f"| task | tool | time | MB/s | events/s | peak RSS | vs vigil |")
    print(f"|---|---|---|---|---|---|---|")
    vigil_time = {task: s for task, tool, s, _, _ in rows if tool.startswith("vigil")}
    for task, tool, seconds, rss, mb in rows:
        ratio = ""
        if not tool.startswith("vigil") and task in vigil_time:
            ratio = f"{seconds / vigil_time[task]:.1f}x slower" if seconds >= vigil_time[task] else f"{vigil_time[task] / seconds:.1f}x faster"
        rss_text = f"{rss / 1024:.1f} MB" if rss else "-"
        print(f"| {task} | {tool} | {seconds:.2f} s | {mb / seconds:,.0f} | {args.events / seconds:,.0f} | {rss_text} | {ratio} |")


if __name__ == "__main__":
    main()
