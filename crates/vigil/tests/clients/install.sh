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
install es7 'elasticsearch>=7.17,<8' elasticsearch
install es8 'elasticsearch>=8.19,<9' elasticsearch
install es9 'elasticsearch>=9,<10' elasticsearch
install opensearch 'opensearch-py>=3.2,<4' opensearchpy

# Elastic's Node client 8.19 (with pino and pino-elasticsearch, which uses it) and 9.4, with the
# machine's Node.js and npm, each in its own folder.
node_install() {
    local name=$1
    shift
    if [ -d "$clients/$name/node_modules/@elastic/elasticsearch" ]; then
        return
    fi
    mkdir -p "$clients/$name"
    (cd "$clients/$name" && npm install --silent --no-audit --no-fund "$@" >/dev/null)
}
node_install node8 '@elastic/elasticsearch@8.19' 'pino@10' 'pino-elasticsearch@8'
node_install node9 '@elastic/elasticsearch@9.4'

# Log daemons from Debian, run by the tests as foreground instances of their own on loopback,
# never as the system's service. rsyslog and syslog-ng conflict as packages (both are the
# system's log daemon), so syslog-ng is installed and rsyslog unpacked under target/clients.
if [ ! -x /usr/sbin/syslog-ng ] || [ ! -f /usr/share/syslog-ng/include/scl/elasticsearch/elastic-http.conf ] \
    || [ ! -x "$clients/rsyslog/usr/sbin/rsyslogd" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # rsyslog's libraries, then syslog-ng with its HTTP module and the elasticsearch-http() block.
    apt-get install -y -qq --no-install-recommends libcurl4 libestr0 libfastjson4 liblognorm5 libzstd1 \
        syslog-ng-core syslog-ng-mod-http syslog-ng-scl >/dev/null
    download=$(mktemp -d)
    (cd "$download" && apt-get download -qq rsyslog rsyslog-elasticsearch 2>/dev/null)
    rm -rf "$clients/rsyslog"
    for deb in "$download"/*.deb; do dpkg -x "$deb" "$clients/rsyslog"; done
    rm -rf "$download"
fi
