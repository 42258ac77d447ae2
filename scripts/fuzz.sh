#!/usr/bin/env bash
# Long runs of the decoder fuzz targets (crates/eventstore-cli/tests/decoders.rs):
# each target runs for EVENTSTORE_FUZZ_SECS seconds (default 300) instead of
# the bounded number of inputs the test suite tries. A crashing input is saved
# under target/fuzz-crashes/ and printed; copy it to
# crates/eventstore-cli/tests/fuzz-regressions/<target>/ to keep it as a
# regression test that every run replays.
set -euo pipefail
cd "$(dirname "$0")/.."
export EVENTSTORE_FUZZ_SECS="${EVENTSTORE_FUZZ_SECS:-300}"
cargo test --release -p eventstore-cli --test decoders -- --nocapture --test-threads 1 "$@"
