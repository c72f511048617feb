#!/usr/bin/env bash
# The Elasticsearch clients vigil's client tests send with, each in its own virtual environment
# under target/clients (elasticsearch-py 8 and 9 cannot live in one). Idempotent: a client
# already installed is kept. Run by .ci/run, and by the test itself when one is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../../.." && pwd)"
clients="$root/target/clients"
install() {
    local name=$1 requirement=$2
    if [ -x "$clients/$name/bin/python" ] && "$clients/$name/bin/python" -c "import ${3}" 2>/dev/null; then
        return
    fi
    rm -rf "$clients/$name"
    python3 -m venv "$clients/$name"
    "$clients/$name/bin/pip" install --quiet --disable-pip-version-check "$requirement"
}
install es8 'elasticsearch>=8.19,<9' elasticsearch
install es9 'elasticsearch>=9,<10' elasticsearch
install opensearch 'opensearch-py>=3.2,<4' opensearchpy
