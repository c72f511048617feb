#!/usr/bin/env python3
"""Benchmark EQL sequences in `vigil scan`: generated endpoint process, network and file events.

    python3 bench/eql.py [--events 1000000] [--hosts 200] [--vigil PATH] [--runs 3]

Writes ECS events from a fixed seed (10 events a second spread over `--hosts` hosts; one host in
fifty runs `cmd.exe` that then makes a network connection within the minute), builds vigil in
release mode (unless `--vigil` names a binary), and times over the same file, one core, median of
`--runs`: `cat`, an EQL event query, and two EQL sequence rules (a 2-term sequence by host and
process, and a 3-term one with `runs=2` and `until`). Nothing is asserted: these are
measurements, for docs/performance.md.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RULES = {
    "event query": '''any where event.category == "process" and process.name == "cmd.exe" and
  process.args : ("*whoami*", "/c*")''',
    "sequence, 2 terms": '''sequence by host.id, process.entity_id with maxspan=1m
  [process where event.type == "start" and process.name == "cmd.exe"]
  [network where event.type == "connection"]''',
    "sequence, runs=2 and until": '''sequence by host.id with maxspan=5m
  [file where event.action == "creation"] with runs=2
  [process where event.type == "start" and process.name : "powershell.exe"]
until [process where event.type == "end" and process.name == "explorer.exe"]''',
}


def rule_toml(n, name, query):
    return (f"[rule]\nrule_id = \"00000000-0000-4000-8000-0000000be{n:03d}\"\nname = \"{name}\"\n"
            f"description = \"benchmark\"\ntype = \"eql\"\nlanguage = \"eql\"\nrisk_score = 21\n"
            f"severity = \"low\"\ninterval = \"5m\"\nfrom = \"now-9m\"\nmax_signals = 10000\n"
            f"query = '''\n{query}\n'''\n")


def events(count, hosts, seed=7):
    rng = random.Random(seed)
    t0 = 1772438400.0  # 2026-03-02T08:00:00Z
    names = ["svchost.exe", "chrome.exe", "explorer.exe", "powershell.exe", "cmd.exe", "python.exe"]
    for i in range(count):
        t = t0 + i / 10.0
        host = f"host-{rng.randrange(hosts)}"
        entity = f"{host}-p{rng.randrange(50)}"
        kind = rng.random()
        name = rng.choice(names)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
        base = {"@timestamp": stamp, "host": {"id": host, "name": host, "os": {"type": "windows"}},
                "agent": {"type": "endpoint"}, "data_stream": {"type": "logs", "dataset": "endpoint.events",
                                                               "namespace": "default"}}
        if kind < 0.5:
            etype = rng.choice(["start", "end"])
            args = [name] + (["/c", "whoami"] if name == "cmd.exe" and rng.random() < 0.3 else ["--x"])
            doc = {**base, "event": {"id": f"e{i}", "category": ["process"], "type": [etype], "action": etype},
                   "process": {"name": name, "entity_id": entity, "pid": rng.randrange(4, 9000), "args": args,
                               "executable": f"C:\\Windows\\System32\\{name}"}}
        elif kind < 0.8:
            doc = {**base, "event": {"id": f"e{i}", "category": ["network"], "type": ["connection"],
                                     "action": "connection_attempted"},
                   "process": {"name": name, "entity_id": entity},
                   "destination": {"ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
                                   "port": rng.choice([443, 80, 445, 3389])}}
        else:
            doc = {**base, "event": {"id": f"e{i}", "category": ["file"], "type": ["creation"],
                                     "action": rng.choice(["creation", "deletion", "modification"])},
                   "process": {"name": name, "entity_id": entity},
                   "file": {"path": f"C:\\Users\\u\\AppData\\Local\\Temp\\f{rng.randrange(10**6)}.tmp"}}
        yield json.dumps(doc, separators=(",", ":"))


def timed(cmd, runs, keep=True):
    times, out = [], b""
    for _ in range(runs):
        start = time.perf_counter()
        stdout = subprocess.PIPE if keep else subprocess.DEVNULL
        out = subprocess.run(cmd, stdout=stdout, stderr=subprocess.DEVNULL, check=True).stdout
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--vigil", help="run this vigil binary instead of building one")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vigil-eql-bench-")
    data = os.path.join(work, "endpoint.ndjson")
    print(f"generating {args.events} events ...", file=sys.stderr)
    with open(data, "w") as out:
        for line in events(args.events, args.hosts):
            out.write(line + "\n")
    size = os.path.getsize(data)
    vigil = args.vigil
    if not vigil:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "vigil"], cwd=ROOT, check=True)
        vigil = os.path.join(ROOT, "target", "release", "vigil")
    rows = []
    seconds, _ = timed(["cat", data], args.runs, keep=False)
    rows.append(("cat", seconds, ""))
    for n, (name, query) in enumerate(RULES.items()):
        rules = os.path.join(work, f"rules-{n}")
        os.makedirs(rules, exist_ok=True)
        with open(os.path.join(rules, "rule.toml"), "w") as f:
            f.write(rule_toml(n, name, query))
        seconds, out = timed([vigil, "scan", "--threads", "1", "-q", "--output", "jsonl", "--rules", rules, data],
                             args.runs)
        alerts = [json.loads(line) for line in out.splitlines()]
        shells = sum(1 for a in alerts if "kibana.alert.group.id" in a and "kibana.alert.building_block_type" not in a)
        what = f"{len(alerts)} alerts" + (f" ({shells} sequences)" if shells else "")
        rows.append((name, seconds, what))
    print(f"\n{args.events:,} events, {size / 1e6:,.0f} MB, one core, median of {args.runs}\n")
    print("| task | time | events/s | MB/s | found |")
    print("|---|---|---|---|---|")
    for name, seconds, what in rows:
        print(f"| {name} | {seconds:.2f} s | {args.events / seconds:,.0f} | {size / 1e6 / seconds:,.0f} | {what} |")


if __name__ == "__main__":
    main()
