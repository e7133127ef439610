#!/usr/bin/env bash
# Seeds the corpora from keys/ and runs each fuzz target for a while.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Defaults: 180 seconds, every target. Stable Rust only is assumed, hence
# RUSTC_BOOTSTRAP=1 (cargo-fuzz needs nightly flags) and `--sanitizer none`
# (AddressSanitizer needs a nightly standard library; sotto forbids unsafe
# code, so the sanitizer would find little that a panic does not show).
# Crashing inputs land in fuzz/artifacts/TARGET/; the corpora in
# fuzz/corpus/TARGET/ (neither is committed).
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${1:-180}"
shift || true
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=(wire_frame message_open chained_open presence_open epoch_key_open invite_decode keyfile_decode ratchet_state commit_open join_request_open log_state_decode)
fi

# Seeds from the known-answer vectors (tests/decoders.rs, write_fuzz_seeds).
cargo test --quiet --test decoders -- --ignored --exact write_fuzz_seeds >/dev/null

export RUSTC_BOOTSTRAP=1
status=0
for target in "${targets[@]}"; do
    log="fuzz/artifacts/$target.log"
    mkdir -p "fuzz/artifacts"
    echo "== $target (${seconds}s)"
    if cargo fuzz run "$target" --sanitizer none -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
    else
        status=1
        echo "   FAILED: see $log and fuzz/artifacts/$target/"
        grep -E 'panicked|ERROR|Test unit written' "$log" || tail -20 "$log"
    fi
done
exit "$status"
