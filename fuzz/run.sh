#!/usr/bin/env bash
# `make fuzz`: runs each fuzz target for FUZZ_SECONDS, one after another, one libFuzzer process
# at a time (no -jobs/-fork: the machine is shared). New inputs go to fuzz/corpus/<target>/,
# crash inputs to fuzz/artifacts/<target>/, the libFuzzer output to fuzz/logs/<target>.log.
# Prints executions and CPU seconds per target; exits 1 if any target found something.
#
#   FUZZ_SECONDS=600 bash fuzz/run.sh [TARGET...]      (default: parse config decide)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-600}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse config decide)
mkdir -p fuzz/logs

cargo +nightly fuzz build
summary=()
failed=0
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    dict=()
    case $target in config | decide) dict=(-dict=fuzz/config.dict) ;; esac
    log=fuzz/logs/$target.log
    echo "fuzz: $target for ${seconds}s (log: $log)"
    status=0
    TIMEFORMAT='%U %S'
    { time cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 "${dict[@]}" >"$log" 2>&1 || status=$?; } 2>"fuzz/logs/$target.cpu"
    cpu=$(awk '{printf "%.0f", $1 + $2}' "fuzz/logs/$target.cpu")
    # The final stats when the run ended by itself; otherwise the last status line (#N ...).
    runs=$(sed -n 's/^stat::number_of_executed_units: //p' "$log" | tail -1)
    [ -n "$runs" ] || runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    result=ok
    if [ "$status" -ne 0 ]; then
        result="FOUND something (exit $status): see $log and fuzz/artifacts/$target/"
        failed=1
    fi
    summary+=("$(printf '%-8s executions %12s   cpu_seconds %6s   corpus %5s files   %s' \
        "$target" "${runs:-?}" "$cpu" "$(find "fuzz/corpus/$target" -type f | wc -l)" "$result")")
done
printf '%s\n' "fuzz summary (${seconds}s per target):" "${summary[@]}"
exit "$failed"
