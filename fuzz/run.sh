#!/usr/bin/env bash
# Runs each fuzz target for a bounded time and prints what it did.
#   fuzz/run.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
crashed=0
export RUSTC_BOOTSTRAP=1  # cargo fuzz passes -Z flags; the machine's toolchain is stable
for target in kql_parse rule_toml o365_normalize bulk; do
    corpus="corpus/$target"
    mkdir -p "$corpus" "regressions/$target"
    log=$(mktemp)
    status=0
    cargo fuzz run --sanitizer none "$target" "$corpus" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="regressions/$target/" >"$log" 2>&1 || status=$?
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
    if [ "$status" -ne 0 ]; then
        echo "$target: CRASH after $runs executions (input kept in fuzz/regressions/$target/)"
        crashed=1
        tail -30 "$log"
    else
        echo "$target: $runs executions in ${seconds}s, no crash"
    fi
    rm -f "$log"
done
exit $crashed
