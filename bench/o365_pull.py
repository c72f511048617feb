#!/usr/bin/env python3
"""Benchmark `vigil serve` pulling from the Office 365 Management Activity API.

    python3 bench/o365_pull.py [--records 200000] [--blob 1000] [--shared ../shared]

Generates raw Office 365 records with ../shared/tools/gen_o365.py, serves them from a local
imitation of the Management Activity API (token endpoint, subscriptions/start, content listings
paged 100 entries at a time with NextPageUri, one content blob per `--blob` records, spread over
the five content types and the last hour), and measures:

- the first pull: from `vigil serve` starting with the tenant configured to every record stored
  (normalized to ECS, durable), in records/s and MB/s of raw JSON;
- a restart: the time until the restarted service has listed every content type again, and how
  many blobs it fetched again (should be none).

The imitation runs in this Python process on the same two cores, so the figures are a lower
bound for vigil. Nothing is asserted: these are measurements, for docs/performance.md.
"""
import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from serve import Server  # noqa: E402

TYPES = ["Audit.AzureActiveDirectory", "Audit.Exchange", "Audit.SharePoint", "Audit.General", "DLP.All"]
PAGE = 100


class Feed:
    def __init__(self, blobs):
        self.blobs = blobs  # [(id, content type, created datetime, body bytes)]
        self.fetches = 0
        self.listings = 0
        self.lock = threading.Lock()


def handler(feed):
    class Api(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, body, headers=()):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            if self.path.endswith("/oauth2/v2.0/token"):
                return self.answer(200, {"access_token": "bench-token", "expires_in": 3599})
            return self.answer(400, {"error": {"code": "AF20024", "message": "already enabled"}})

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            q = dict(urllib.parse.parse_qsl(url.query))
            host = self.headers.get("host")
            if url.path.startswith("/blob/"):
                with feed.lock:
                    feed.fetches += 1
                return self.answer(200, feed.blobs[int(url.path[len("/blob/"):])][3])
            with feed.lock:
                feed.listings += 1
            start = dt.datetime.fromisoformat(q["startTime"]).replace(tzinfo=dt.timezone.utc)
            end = dt.datetime.fromisoformat(q["endTime"]).replace(tzinfo=dt.timezone.utc)
            listed = [b for b in feed.blobs if b[1] == q["contentType"] and start <= b[2] < end]
            page = int(q.get("page", 0))
            entries = [{"contentType": b[1], "contentId": f"blob-{b[0]}", "contentUri": f"http://{host}/blob/{b[0]}",
                        "contentCreated": b[2].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        "contentExpiration": "2099-01-01T00:00:00.000Z"} for b in listed[page * PAGE:(page + 1) * PAGE]]
            headers = []
            if len(listed) > (page + 1) * PAGE:
                next_query = urllib.parse.urlencode({**{k: v for k, v in q.items() if k != "PublisherIdentifier"},
                                                     "page": page + 1})
                headers.append(("NextPageUri", f"http://{host}{url.path}?{next_query}"))
            return self.answer(200, entries, headers)

    return Api


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--blob", type=int, default=1000, help="records per content blob")
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    args = ap.parse_args()

    gen = os.path.join(args.shared, "tools", "gen_o365.py")
    if not os.path.exists(gen):
        sys.exit(f"gen_o365.py not found under {args.shared} (give --shared)")
    print(f"generating {args.records} raw records ...", file=sys.stderr)
    lines = subprocess.run([sys.executable, gen, "--count", str(args.records), "--shape", "raw", "--seed", "11"],
                           capture_output=True, check=True).stdout.splitlines()
    now = dt.datetime.now(dt.timezone.utc)
    count = (len(lines) + args.blob - 1) // args.blob
    blobs = []
    for at in range(count):
        chunk = lines[at * args.blob:(at + 1) * args.blob]
        created = now - dt.timedelta(seconds=3600 * (count - at) / count)
        blobs.append((at, TYPES[at % len(TYPES)], created, b"[" + b",".join(chunk) + b"]"))
    size = sum(len(b[3]) for b in blobs)
    feed = Feed(blobs)
    api = ThreadingHTTPServer(("127.0.0.1", 0), handler(feed))
    threading.Thread(target=api.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{api.server_address[1]}"

    print("building vigil (release) ...", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "vigil"], cwd=ROOT, check=True)
    vigil = os.path.join(ROOT, "target", "release", "vigil")
    work = tempfile.mkdtemp(prefix="vigil-o365-bench-")
    config = os.path.join(work, "vigil.toml")
    with open(config, "w") as f:
        f.write(f'[o365]\ninterval = "1s"\n\n[[o365.tenants]]\ntenant_id = "bench"\nclient_id = "app"\n'
                f'client_secret_env = "BENCH_SECRET"\nlogin_url = "{base}"\napi_url = "{base}"\n')
    data_dir = os.path.join(work, "data")
    env = {"BENCH_SECRET": "bench-secret"}

    started = time.perf_counter()
    server = Server(vigil, data_dir, ["--config", config], env)
    try:
        while server.api("GET", "/api/v1/health")["events"] < len(lines):
            if time.perf_counter() - started > 1800:
                sys.exit("not every record was stored within 30 minutes")
            time.sleep(0.05)
        first = time.perf_counter() - started
        fetched = feed.fetches
    finally:
        server.stop()

    listings = feed.listings
    started = time.perf_counter()
    server = Server(vigil, data_dir, ["--config", config], env)
    try:
        # Every content type listed again over the relist window (and 7 days on the first pull).
        while feed.listings < listings + len(TYPES):
            time.sleep(0.01)
        again = time.perf_counter() - started
        events = server.api("GET", "/api/v1/health")["events"]
    finally:
        server.stop()

    print(f"\n{len(lines):,} raw records, {size / 1e6:,.0f} MB, in {count} blobs of {args.blob} over 5 content types\n")
    print("| run | time | records/s | MB/s | blobs fetched |")
    print("|---|---|---|---|---|")
    print(f"| first pull, every record stored | {first:.1f} s | {len(lines) / first:,.0f} | {size / first / 1e6:,.1f} | "
          f"{fetched} |")
    print(f"| restart, every content type listed again | {again:.2f} s | | | {feed.fetches - fetched} "
          f"(events stored: {events:,}) |")


if __name__ == "__main__":
    main()
