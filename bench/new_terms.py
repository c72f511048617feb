#!/usr/bin/env python3
"""Benchmark new terms rules in `vigil serve`: the cold execution and a steady one.

    python3 bench/new_terms.py [--events 1000000] [--days 14] [--shared ../shared]

Generates ECS Office 365 events spread over `--days` days ending now with
../shared/tools/gen_o365.py, starts `vigil serve` (release) with the corpus's 10 Office 365 new
terms rules only, ingests the events with `_bulk`, and runs each rule by hand (`POST
/api/v1/rules/{id}/run`) three times:

- cold: the first execution reads every event ingested since the rule last ran (all of them on a
  fresh store) and adds their terms to the rule's index;

The rules' `timestamp_override = "event.ingested"` is dropped: events ingested in one minute all
fall in the current window by ingest time, while 14 days of steady ingest would spread them as
their @timestamp does.
- steady: the next one reads its window (9 or 15 minutes) and the index rows of that window's
  terms only;
- rebuild (the brute-force baseline): the rule's `history_window_start` changed on disk, so the
  index is rebuilt from the 14 days of stored events: what every execution would cost if the
  history were re-read each time.

It reports each execution's time, events read and terms checked, and the service's peak memory
(VmHWM) after each phase. Nothing is asserted: these are measurements, for docs/performance.md.
"""
import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from scan import o365_rules  # noqa: E402
from serve import Server, bodies, ingest  # noqa: E402


def peak_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def run_all(server, rule_ids):
    rows = []
    for rule_id in rule_ids:
        record = server.api("POST", f"/api/v1/rules/{rule_id}/run")
        rows.append(record)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    args = ap.parse_args()

    gen = os.path.join(args.shared, "tools", "gen_o365.py")
    if not os.path.exists(gen):
        sys.exit(f"gen_o365.py not found under {args.shared} (give --shared)")
    work = tempfile.mkdtemp(prefix="vigil-new-terms-bench-")
    data = os.path.join(work, "events.ndjson")
    first = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=args.days)
    print(f"generating {args.events:,} events over {args.days} days ending now ...", file=sys.stderr)
    with open(data, "wb") as out:
        subprocess.run([sys.executable, gen, "--count", str(args.events), "--shape", "ecs", "--seed", "7",
                        "--days", str(args.days), "--start", first.strftime("%Y-%m-%dT%H:%M:%S")],
                       stdout=out, check=True)
    size = os.path.getsize(data)
    print("building vigil (release) ...", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "vigil"], cwd=ROOT, check=True)
    vigil = os.path.join(ROOT, "target", "release", "vigil")
    rules_dir = os.path.join(work, "rules")
    count = o365_rules(args.shared, rules_dir, types=("new_terms",))
    rule_ids, names = [], {}
    for name in sorted(os.listdir(rules_dir)):
        # These rules date events by `event.ingested`, which vigil sets when it stores them: a
        # store filled in a minute would hold all 14 days in one window. The bench dates them by
        # @timestamp instead, as ingest time would after 14 days of steady ingest.
        path = os.path.join(rules_dir, name)
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace('timestamp_override = "event.ingested"\n', ""))
        with open(os.path.join(rules_dir, name), "rb") as f:
            rule = tomllib.load(f)["rule"]
        rule_ids.append(rule["rule_id"])
        names[rule["rule_id"]] = rule["name"]

    server = Server(vigil, os.path.join(work, "data"), ["--no-builtin-rules", "--rules", rules_dir])
    try:
        seconds, errors = ingest(server, bodies(data, 5000), 2)
        print(f"ingested in {seconds:.1f} s ({errors} errors)", file=sys.stderr)
        after_ingest = peak_kb(server.proc.pid)
        cold = run_all(server, rule_ids)
        after_cold = peak_kb(server.proc.pid)
        time.sleep(1)
        steady = run_all(server, rule_ids)
        after_steady = peak_kb(server.proc.pid)
        # A changed history makes each index stale: the next execution rebuilds it from the store.
        for name in os.listdir(rules_dir):
            path = os.path.join(rules_dir, name)
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace('value = "now-14d"', 'value = "now-13d"')
                        .replace('value = "now-10d"', 'value = "now-9d"')
                        .replace('value = "now-7d"', 'value = "now-6d"'))
        time.sleep(3)  # the service reloads changed rule files
        rebuild = run_all(server, rule_ids)
        after_rebuild = peak_kb(server.proc.pid)
    finally:
        server.stop()

    print(f"\n{args.events:,} ECS events over {args.days} days ({size / 1e6:,.0f} MB), {count} new terms rules\n")
    print("| rule | cold: ms (events read, terms) | steady: ms (events, terms) | rebuild: ms (events, terms) |")
    print("|---|---|---|---|")
    totals = [0, 0, 0]
    for c, s, r in zip(cold, steady, rebuild):
        totals[0] += c["duration_ms"]
        totals[1] += s["duration_ms"]
        totals[2] += r["duration_ms"]
        cell = lambda x: f"{x['duration_ms']:,} ({x['events']:,}, {x.get('terms', 0):,})"  # noqa: E731
        print(f"| {names[c['rule_id']]} | {cell(c)} | {cell(s)} | {cell(r)} |")
    print(f"| **all {count}** | {totals[0]:,} | {totals[1]:,} | {totals[2]:,} |")
    print(f"\npeak memory (VmHWM): after ingest {after_ingest / 1024:,.0f} MiB, after cold {after_cold / 1024:,.0f} MiB, "
          f"after steady {after_steady / 1024:,.0f} MiB, after rebuild {after_rebuild / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
