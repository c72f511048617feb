"""Sends events to vigil with a real Elasticsearch client, configured as its users configure it:
the client's own bulk helper, an API key (elasticsearch-py) or a user and password holding the
key (opensearch-py).

usage: send.py elasticsearch|opensearch URL KEY LABEL COUNT [identical|ids]

Prints one JSON line: the client's version, how many documents its helper reports sent, and
its first errors. With `identical`, the documents are one line repeated, without ids; with
`ids`, each document has an `_id`.
"""
import json
import sys

kind, url, key, label, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
mode = sys.argv[6] if len(sys.argv) > 6 else ""


def documents():
    for i in range(count):
        if mode == "identical":
            source = {"@timestamp": "2026-03-02T08:00:00Z", "message": f"Failed password for root ({label})"}
            yield {"_index": "logs-clients.test-default", "_source": source}
        elif mode == "ids":
            source = {"@timestamp": "2026-03-02T08:00:00Z", "message": f"event {i} from {label}"}
            yield {"_index": "logs-clients.test-default", "_id": f"{label}-{i}", "_source": source}
        else:
            source = {"@timestamp": "2026-03-02T08:00:00Z", "event": {"id": f"{label}-{i}", "action": "client-test"},
                      "message": f"event {i} from {label}"}
            yield {"_index": "logs-clients.test-default", "_source": source}


if kind == "elasticsearch":
    from elasticsearch import Elasticsearch, helpers, __versionstr__ as version
    client = Elasticsearch(url, api_key=key, request_timeout=120)
else:
    from opensearchpy import OpenSearch, helpers, __versionstr__ as version
    client = OpenSearch(hosts=[url], http_auth=("vigil", key), timeout=120)

sent, errors = helpers.bulk(client, documents(), chunk_size=500, raise_on_error=False)
print(json.dumps({"client": kind, "version": version, "sent": sent, "errors": errors[:3]}))
