#!/usr/bin/env python3
"""Benchmark `vigil serve`: bulk ingest, executions over a large store, ingest-to-alert delay.

    python3 bench/serve.py [--events 1000000] [--shared ../shared] [--clients 2] [--batch 5000]
                           [--shape ecs|raw] [--vigil PATH] [--delay] [--realtime]

Generates Office 365 events with ../shared/tools/gen_o365.py (ECS documents, or with
`--shape raw` raw audit records, which vigil normalizes as it stores them) whose times end now (50 events
per second of audit time, so a 30-minute window holds 90,000 of them), builds vigil in release
mode, and for each rule set (the built-in pack; every KQL query rule of the corpus for o365
indices) starts `vigil serve` on a fresh data directory and measures:

- bulk ingest: `--clients` connections sending `_bulk` requests of `--batch` events until all
  are acknowledged (durable), in events/s and MB/s, and each request's latency (p50, p99);
- executions: the DKIM rule run now twice: the first evaluates every event ingested since it
  last ran (all of them, on a fresh store), the second its 30-minute window alone;
- with `--delay` (built-in pack only): one new DKIM event sent, and the time until its alert is
  stored, split into the wait for the rule's next scheduled start and the execution;
- with `--realtime`: the rules run in real time (`VIGIL_REALTIME=*`), and while the bulk load
  runs a probe sends one DKIM event at a time and waits for its alert: the ingest-to-alert
  latency under load (p50, p99, max).

Nothing is asserted: these are measurements, for docs/performance.md.
"""
import argparse
import datetime as dt
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from scan import o365_rules  # noqa: E402

DKIM_RULE = "514121ce-c7b6-474a-8237-68ff71672379"
RATE = 50.0


class Server:
    """A running `vigil serve` on a fresh data directory, with the admin key it printed."""

    def __init__(self, vigil, data_dir, args, env=None):
        self.proc = subprocess.Popen([vigil, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        self.key = None
        for line in self.proc.stderr:
            if line.strip().startswith("vgl_"):
                self.key = line.strip()
            m = re.search(r"address=http://([0-9.]+):(\d+)", line)
            if m:
                threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
                self.host, self.port = m.group(1), int(m.group(2))
                return
        sys.exit("vigil serve did not start")

    def headers(self):
        return {"content-type": "application/json", "authorization": f"ApiKey {self.key}"}

    def api(self, method, path, body=None):
        req = urllib.request.Request(f"http://{self.host}:{self.port}{path}", method=method, data=body,
                                     headers=self.headers())
        with urllib.request.urlopen(req, timeout=3600) as r:
            return json.load(r)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def bodies(path, batch):
    out, chunk = [], []
    with open(path, "rb") as f:
        for line in f:
            chunk.append(b'{"create":{"_index":"logs-o365.audit-default"}}\n')
            chunk.append(line)
            if len(chunk) == 2 * batch:
                out.append(b"".join(chunk))
                chunk = []
    if chunk:
        out.append(b"".join(chunk))
    return out


def probe_event(n):
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"@timestamp": now, "event": {"id": f"probe-{n}", "dataset": "o365.audit", "provider": "Exchange",
            "category": ["web"], "action": "Set-DkimSigningConfig", "outcome": "success"},
            "data_stream": {"type": "logs", "dataset": "o365.audit", "namespace": "default"},
            "o365": {"audit": {"Parameters": {"Enabled": "False"}}}}


def probe(server, done, latencies):
    """Sends one DKIM event at a time until `done` is set; the seconds until each one's alert. At
    most 80, within the rule's max_signals (100) per interval."""
    n = 0
    while not done.is_set() and n < 80:
        n += 1
        body = b'{"create":{"_index":"logs-o365.audit-default"}}\n' + json.dumps(probe_event(n)).encode() + b"\n"
        sent = time.perf_counter()
        conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
        conn.request("POST", "/_bulk", body=body, headers={**server.headers(), "content-type": "application/x-ndjson"})
        assert conn.getresponse().status == 200
        conn.close()
        while server.api("GET", f"/api/v1/alerts?q=event.id:probe-{n}")["total"] == 0:
            if time.perf_counter() - sent > 60:
                sys.exit(f"probe-{n} did not alert within a minute")
            time.sleep(0.01)
        latencies.append(time.perf_counter() - sent)


def ingest(server, all_bodies, clients):
    queue = list(reversed(all_bodies))
    lock = threading.Lock()
    errors = []
    latencies = []

    def worker():
        conn = http.client.HTTPConnection(server.host, server.port, timeout=3600)
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            headers = {**server.headers(), "content-type": "application/x-ndjson"}
            sent = time.perf_counter()
            while True:
                conn.request("POST", "/_bulk", body=body, headers=headers)
                response = conn.getresponse()
                answer = json.loads(response.read())
                # 429: max_ingest_requests are being read; send it again, as shippers do.
                if response.status != 429:
                    break
                time.sleep(0.05)
            with lock:
                latencies.append(time.perf_counter() - sent)
            if response.status != 200 or answer.get("errors"):
                errors.append(answer)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0.0  # noqa: E731
    return time.perf_counter() - started, len(errors), (pick(0.5), pick(0.99))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--vigil", help="run this vigil binary (an earlier build, to compare) instead of building one")
    ap.add_argument("--shape", choices=["ecs", "raw"], default="ecs", help="ECS documents or raw audit records")
    ap.add_argument("--realtime", action="store_true", help="rules run in real time; ingest-to-alert latency under load")
    ap.add_argument("--delay", action="store_true", help="also measure the ingest-to-alert delay (up to 5 minutes)")
    args = ap.parse_args()

    gen = os.path.join(args.shared, "tools", "gen_o365.py")
    if not os.path.exists(gen):
        sys.exit(f"gen_o365.py not found under {args.shared} (give --shared)")
    work = tempfile.mkdtemp(prefix="vigil-serve-bench-")
    data = os.path.join(work, "events.ndjson")
    first = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=args.events / RATE)
    print(f"generating {args.events} events ending now ...", file=sys.stderr)
    with open(data, "wb") as out:
        subprocess.run([sys.executable, gen, "--count", str(args.events), "--shape", args.shape, "--seed", "7",
                        "--rate", str(RATE), "--start", first.strftime("%Y-%m-%dT%H:%M:%S")], stdout=out, check=True)
    size = os.path.getsize(data)
    vigil = args.vigil
    if not vigil:
        print("building vigil (release) ...", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "vigil"], cwd=ROOT, check=True)
        vigil = os.path.join(ROOT, "target", "release", "vigil")
    all_bodies = bodies(data, args.batch)
    rules_dir = os.path.join(work, "o365-rules")
    count = o365_rules(args.shared, rules_dir)

    rows, realtime_rows = [], []
    for label, rules_args in [("built-in pack (1 rule)", []),
                              (f"all o365 KQL rules ({count})", ["--no-builtin-rules", "--rules", rules_dir])]:
        data_dir = os.path.join(work, "data-" + str(len(rows)))
        server = Server(vigil, data_dir, rules_args, env={"VIGIL_REALTIME": "*"} if args.realtime else None)
        try:
            done, alerted = threading.Event(), []
            prober = threading.Thread(target=probe, args=(server, done, alerted)) if args.realtime else None
            if prober:
                prober.start()
            seconds, errors, latency = ingest(server, all_bodies, args.clients)
            if prober:
                done.set()
                prober.join()
                if not alerted:
                    sys.exit(f"{label}: no probe alerted")
                alerted.sort()
                pick = lambda q: alerted[min(len(alerted) - 1, int(q * len(alerted)))]  # noqa: E731
                print(f"{label}: ingest to alert under load, {len(alerted)} probes: p50 {pick(0.5) * 1000:.0f} ms, "
                      f"p99 {pick(0.99) * 1000:.0f} ms, max {alerted[-1] * 1000:.0f} ms")
                realtime_rows.append((label, len(alerted), pick(0.5), pick(0.99), alerted[-1]))
            health = server.api("GET", "/api/v1/health")
            assert health["events"] >= args.events, health
            catch_up = server.api("POST", f"/api/v1/rules/{DKIM_RULE}/run")
            window = server.api("POST", f"/api/v1/rules/{DKIM_RULE}/run")
            rows.append((label, seconds, errors, latency, catch_up, window))
            print(f"{label}: {args.events / seconds:,.0f} events/s", file=sys.stderr)
            if args.delay and not rules_args:
                now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                event = {"@timestamp": now, "event": {"id": "delay-probe", "dataset": "o365.audit", "provider": "Exchange",
                         "category": ["web"], "action": "Set-DkimSigningConfig", "outcome": "success"},
                         "o365": {"audit": {"Parameters": {"Enabled": "False"}}}}
                sent = time.time()
                server.api("POST", "/api/v1/events", json.dumps(event).encode())
                while True:
                    page = server.api("GET", "/api/v1/alerts?q=event.id:delay-probe")
                    if page["total"]:
                        break
                    time.sleep(0.05)
                alerted = time.time()
                doc = page["alerts"][0]["document"]
                execution = server.api("GET", f"/api/v1/rules/{DKIM_RULE}/executions?limit=1")["executions"][0]
                scheduled = dt.datetime.fromisoformat(execution["scheduled"].replace("Z", "+00:00")).timestamp()
                print(f"\ningest to alert: {alerted - sent:.1f} s (waiting for the next 5m start: "
                      f"{scheduled - sent:.1f} s; execution and commit: {execution['duration_ms']} ms; "
                      f"alert {doc['kibana.alert.uuid'][:12]})")
        finally:
            server.stop()

    shape = "ECS events" if args.shape == "ecs" else "raw Office 365 records"
    print(f"\n{args.events:,} {shape}, {size / 1e6:,.0f} MB; {args.clients} clients, {args.batch} events per _bulk\n")
    print("| rules | ingest | events/s | MB/s | _bulk p50 / p99 | DKIM run over all new events | DKIM run, 30-min window |")
    print("|---|---|---|---|---|---|---|")
    for label, seconds, errors, (p50, p99), catch_up, window in rows:
        print(f"| {label} | {seconds:.1f} s{' (' + str(errors) + ' errors)' if errors else ''} | "
              f"{args.events / seconds:,.0f} | {size / seconds / 1e6:,.0f} | {p50 * 1000:.0f} / {p99 * 1000:.0f} ms | "
              f"{catch_up['duration_ms']} ms ({catch_up['events']:,} events, {catch_up['alerts']} alerts) | "
              f"{window['duration_ms']} ms ({window['events']:,} events) |")

    if realtime_rows:
        print("\n| rules (real time) | probes | ingest to alert p50 | p99 | max |")
        print("|---|---|---|---|---|")
        for label, n, p50, p99, worst in realtime_rows:
            print(f"| {label} | {n} | {p50 * 1000:.0f} ms | {p99 * 1000:.0f} ms | {worst * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
