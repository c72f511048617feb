#!/usr/bin/env python3
"""Random EQL event queries and documents, judged by Elastic's `eql` Python package (PyPI `eql`).

    python3 crates/eql/tests/differential.py [--seed 7] [--queries 400] [--docs 60]

Prints one JSON object per line: first {"docs": [...]}, then {"query": ..., "matched": [ids]}
for each query. `crates/eql/tests/it/differential.rs` runs it and compares vigil's matcher.

The queries keep to what the package and Elasticsearch agree on (eql-divergences.toml, next to
this file, says where they differ and why): every field is present and single-valued, patterns
use `*` only, no function that can give null where Elasticsearch gives a value or where a `not`
would see it (between, indexOf) is generated, and the constants given to
endsWith/stringContains hold no wildcard.
"""
import argparse
import json
import random
import sys

import eql
from eql.parser import elasticsearch_syntax, ignore_missing_fields

WORDS = ["cmd.exe", "powershell.exe", "svchost", "c:\\windows\\system32", "alice", "bob", "a.b.c", "x", "",
         "rundll32.exe", "net.exe", "wmic", "sh", "bash", "python3", "admin", "root", "the quick fox"]
STRINGS = ["process.name", "process.executable", "user.name", "file.name"]
NUMBERS = ["process.pid", "process.args_count"]
IPS = ["10.1.2.3", "192.168.1.20", "172.16.0.9", "8.8.8.8"]


def doc(rng, n):
    return {
        "id": n,
        "event": {"category": rng.choice(["process", "file"])},
        "process": {"name": rng.choice(WORDS), "executable": rng.choice(WORDS), "pid": rng.randint(0, 20),
                    "args_count": rng.randint(0, 5)},
        "user": {"name": rng.choice(WORDS)},
        "file": {"name": rng.choice(WORDS)},
        "source": {"ip": rng.choice(IPS)},
    }


def q(s):
    return json.dumps(s)


def mixed_case(rng, s):
    return "".join(c.upper() if rng.random() < 0.4 else c for c in s)


def piece(rng, s):
    """A substring of s (possibly empty)."""
    if not s:
        return ""
    a = rng.randint(0, len(s))
    b = rng.randint(a, len(s))
    return s[a:b]


def pattern(rng, s):
    """A wildcard pattern, sometimes matching s."""
    if rng.random() < 0.5 or not s:
        s = rng.choice(WORDS)
    out = []
    for c in s:
        r = rng.random()
        if r < 0.15:
            out.append("*")
        else:
            out.append(c)
    if rng.random() < 0.3:
        out.insert(0, "*")
    if rng.random() < 0.3:
        out.append("*")
    return "".join(out)


def leaf(rng):
    f = rng.choice(STRINGS)
    n = rng.choice(NUMBERS)
    w = rng.choice(WORDS)
    k = rng.randint(0, 20)
    op = rng.choice(["==", "!=", "<", "<=", ">", ">="])
    choices = [
        lambda: f"{f} {rng.choice(['==', '!='])} {q(w)}",
        lambda: f"{n} {op} {k}",
        lambda: f"{f} : {q(mixed_case(rng, pattern(rng, w)))}",
        lambda: f"{f} : ({q(mixed_case(rng, w))}, {q(mixed_case(rng, pattern(rng, w)))})",
        lambda: f"{f} like {q(pattern(rng, w))}",
        lambda: f"{f} like~ {q(mixed_case(rng, pattern(rng, w)))}",
        lambda: f"{f} in ({q(w)}, {q(rng.choice(WORDS))})",
        lambda: f"{f} not in ({q(w)}, {q(rng.choice(WORDS))})",
        lambda: f"{f} in~ ({q(mixed_case(rng, w))}, {q(rng.choice(WORDS))})",
        lambda: f"startsWith({f}, {q(piece(rng, w))})",
        lambda: f"startsWith~({f}, {q(mixed_case(rng, piece(rng, w)))})",
        lambda: f"endsWith({f}, {q(piece(rng, w).replace('*', '').replace('?', ''))})",
        lambda: f"stringContains({f}, {q(piece(rng, w).replace('*', '').replace('?', ''))})",
        lambda: f"length({f}) {op} {rng.randint(0, 12)}",
        lambda: f"substring({f}, {rng.randint(-4, 4)}, {rng.randint(-4, 8)}) == {q(piece(rng, w))}",
        lambda: f"concat({f}, {q(rng.choice(['', '.x', 'y']))}) == {q(w + rng.choice(['', '.x', 'y']))}",
        lambda: f"add({n}, {rng.randint(-3, 3)}) {op} {k}",
        lambda: f"{n} + {rng.randint(-3, 3)} * 2 {op} {k}",
        lambda: f"modulo({n}, {rng.randint(1, 4)}) == {rng.randint(0, 3)}",
        lambda: f"string({n}) == {q(str(k))}",
        lambda: f"number(string({n})) {op} {k}",
        lambda: f"cidrMatch(source.ip, {q(rng.choice(['10.0.0.0/8', '192.168.0.0/16', '8.8.8.8/32']))})",
    ]
    return rng.choice(choices)()


def condition(rng, depth=0):
    r = rng.random()
    if depth >= 3 or r < 0.4:
        return leaf(rng)
    if r < 0.55:
        return f"not ({condition(rng, depth + 1)})"
    op = "and" if r < 0.8 else "or"
    return f"({condition(rng, depth + 1)} {op} {condition(rng, depth + 1)})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--docs", type=int, default=60)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    docs = [doc(rng, n) for n in range(args.docs)]
    print(json.dumps({"docs": docs}))
    events = [eql.Event(d["event"]["category"], 0, d) for d in docs]
    for _ in range(args.queries):
        text = f"{rng.choice(['any', 'process', 'file'])} where {condition(rng)}"
        with elasticsearch_syntax, ignore_missing_fields:
            query = eql.parse_query(text)
        matched = []
        engine = eql.PythonEngine({"flatten": True})
        engine.add_query(query)
        engine.add_output_hook(lambda result: matched.append(result.data["id"]))
        engine.stream_events(events)
        print(json.dumps({"query": text, "matched": sorted(matched)}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
