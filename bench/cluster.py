#!/usr/bin/env python3
"""Benchmark cluster mode: bulk ingest and evaluation with vigil nodes on a three-server NATS
JetStream cluster, against the embedded mode on the same machine.

    python3 bench/cluster.py [--events 200000] [--shared ../shared] [--clients 2] [--batch 5000] [--nodes 1 2 3]

Generates ECS Office 365 events with ../shared/tools/gen_o365.py, builds vigil (release), and
measures `_bulk` ingest (each request acknowledged once durable: on the node's disk in embedded
mode, by the stream's quorum in cluster mode), first embedded, then with each `--nodes` count of
vigil nodes in cluster mode on three `nats-server` processes (the `nats-server` on PATH, 2.10 or
newer) started here on loopback, the clients spread over the nodes. In cluster mode it also
measures how long after the last acknowledgement every node's store holds every event. Then the
corpus's Office 365 KQL query rules are added to the nodes' (until then empty) rule folder, and
it times how long until every one has evaluated every event: their first executions, spread over
the nodes by leases in cluster mode.

Everything runs on this machine: the NATS servers, the vigil nodes and the clients share its
cores, so these figures bound what separate machines would do from below. Nothing is asserted.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from scan import o365_rules  # noqa: E402
from serve import Server, bodies, ingest  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nats(work):
    ports = [(free_port(), free_port(), free_port()) for _ in range(3)]
    routes = ",".join(f"nats://127.0.0.1:{r}" for _, _, r in ports)
    procs = []
    for i, (port, monitor, route) in enumerate(ports):
        procs.append(subprocess.Popen(
            ["nats-server", "--name", f"n{i + 1}", "--addr", "127.0.0.1", "--port", str(port),
             "--http_port", str(monitor), "--jetstream", "--store_dir", os.path.join(work, f"nats-{i + 1}"),
             "--cluster_name", "bench", "--cluster", f"nats://127.0.0.1:{route}", "--routes", routes],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for _, monitor, _ in ports:
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("nats-server did not become healthy")
            time.sleep(0.1)
    return procs, [f"nats://127.0.0.1:{p}" for p, _, _ in ports]


def run(vigil, work, label, all_bodies, clients, count, urls=None, nodes=1, rules=None):
    servers = []
    # Every node reads the same (at first empty) rule folder: the rules arrive after the ingest,
    # so that their first executions, over every event, are what is timed.
    folder = os.path.join(work, f"{label}-rules")
    os.makedirs(folder)
    for n in range(nodes):
        data = os.path.join(work, f"{label}-{n}")
        os.makedirs(data)
        args = ["--no-builtin-rules", "--rules", folder]
        if urls:
            config = os.path.join(data, "vigil.toml")
            with open(config, "w") as f:
                f.write("[cluster]\nurls = [%s]\nname = \"node-%d\"\n" % (", ".join(json.dumps(u) for u in urls), n))
            args += ["--config", config]
        servers.append(Server(vigil, os.path.join(data, "data"), args))
    # One cluster, one first key: the first node makes it, the others find it in the state log.
    for s in servers[1:]:
        s.key = s.key or servers[0].key
    try:
        # Clients spread over the nodes: each node takes its share of the requests.
        shares = [all_bodies[i::nodes] for i in range(nodes)]
        started = time.perf_counter()
        import threading
        results = []
        threads = [threading.Thread(target=lambda s=s, b=b: results.append(ingest(s, b, max(1, clients // nodes))))
                   for s, b in zip(servers, shares)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
        errors = sum(e for _, e in results)
        caught_up = None
        if urls:
            deadline = time.time() + 600
            while any(s.api("GET", "/api/v1/health")["events"] < count for s in servers):
                if time.time() > deadline:
                    break
                time.sleep(0.05)
            caught_up = time.perf_counter() - started - seconds
        evaluated = None
        if rules:
            for name in os.listdir(rules):
                shutil.copy(os.path.join(rules, name), folder)
            began = time.perf_counter()
            deadline = time.time() + 1200
            while time.time() < deadline:
                listed = servers[0].api("GET", "/api/v1/rules")["rules"]
                runnable = [r for r in listed if r["enabled"] and not r["unsupported"]]
                if runnable and all(r["covered_seq"] >= count for r in runnable):
                    evaluated = (time.perf_counter() - began, len(runnable))
                    break
                time.sleep(0.2)
        return seconds, errors, caught_up, evaluated
    finally:
        for s in servers:
            s.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3])
    args = ap.parse_args()
    gen = os.path.join(args.shared, "tools", "gen_o365.py")
    if not os.path.exists(gen):
        sys.exit(f"gen_o365.py not found under {args.shared} (give --shared)")
    work = tempfile.mkdtemp(prefix="vigil-cluster-bench-")
    data = os.path.join(work, "events.ndjson")
    with open(data, "wb") as out:
        subprocess.run([sys.executable, gen, "--count", str(args.events), "--shape", "ecs", "--seed", "7"],
                       stdout=out, check=True)
    size = os.path.getsize(data)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "vigil"], cwd=ROOT, check=True)
    vigil = os.path.join(ROOT, "target", "release", "vigil")
    all_bodies = bodies(data, args.batch)
    rules = os.path.join(work, "o365-rules")
    o365_rules(args.shared, rules)
    rows = [("embedded, 1 node", *run(vigil, work, "embedded", all_bodies, args.clients, args.events, rules=rules))]
    for nodes in args.nodes:
        procs, urls = start_nats(os.path.join(work, f"nats-{nodes}"))
        try:
            rows.append((f"cluster, {nodes} node(s), 3 NATS servers (R3)",
                         *run(vigil, work, f"cluster{nodes}", all_bodies, args.clients, args.events, urls, nodes, rules)))
        finally:
            for p in procs:
                p.kill()
                p.wait()
    print(f"\n{args.events:,} ECS events ({size / 1e6:,.0f} MB), {args.clients} clients, {args.batch} events per _bulk\n")
    print("| mode | ingest | events/s | MB/s | every node holds every event | every rule's first execution done |")
    print("|---|---|---|---|---|---|")
    for label, seconds, errors, caught_up, evaluated in rows:
        lag = "" if caught_up is None else f"{caught_up:.2f} s after the last acknowledgement"
        err = f" ({errors} errors)" if errors else ""
        ev = "" if evaluated is None else f"{evaluated[0]:.1f} s ({evaluated[1]} rules)"
        print(f"| {label} | {seconds:.1f} s{err} | {args.events / seconds:,.0f} | {size / seconds / 1e6:,.0f} | {lag} | {ev} |")


if __name__ == "__main__":
    main()
