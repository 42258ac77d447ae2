#!/usr/bin/env bash
# Long runs of the fuzz targets (crates/eventstore-fuzz): every decoder of
# untrusted bytes and the service's request handlers.
#
#   scripts/fuzz.sh [--generate] [--secs N] [target...]
#
# By default each target runs coverage-guided under libFuzzer (cargo-fuzz,
# installed from crates.io when missing; libFuzzer's instrumentation needs
# nightly flags, which RUSTC_BOOTSTRAP=1 allows on the stable compiler),
# with AddressSanitizer, for N seconds (EVENTSTORE_FUZZ_SECS, default 300),
# starting from the real seeds and kept regressions of the target
# (eventstore-fuzz-seeds) and from the corpus earlier runs grew
# (fuzz/corpus/<target>/, not committed). --generate runs the stable
# mutation driver of the test suite instead, for the same time.
#
# A crashing input is copied to target/fuzz-crashes/<target>/; keep it as
# crates/eventstore-fuzz/regressions/<target>/<name>.bin and every run of
# the suite replays it. The summary gives, per target, the inputs tried,
# the coverage reached, the corpus size and the crashes found.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${EVENTSTORE_FUZZ_SECS:-300}"
mode=libfuzzer
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --generate) mode=generate ;;
    --secs) secs="$2"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
all=(log-file log-stream manifest market-json book-snapshot import compact-trades service)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

if [ "$mode" = generate ]; then
  filter=()
  for t in "${targets[@]}"; do filter+=("${t//-/_}"); done
  EVENTSTORE_FUZZ_SECS="$secs" cargo test --release -p eventstore-fuzz --test targets -- \
    --nocapture --test-threads 1 --exact "${filter[@]}"
  exit 0
fi

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cargo run --quiet --release -p eventstore-fuzz --bin eventstore-fuzz-seeds -- fuzz/corpus "${targets[@]}"
for t in "${targets[@]}"; do (cd fuzz && cargo fuzz build -O "${t//-/_}"); done
mkdir -p target/fuzz-logs
summary=()
status=0
for t in "${targets[@]}"; do
  bin="${t//-/_}"
  log="target/fuzz-logs/$t.log"
  echo "== $t: $secs s (log: $log)"
  set +e
  (cd fuzz && cargo fuzz run -O "$bin" "corpus/$t" -- \
      -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=4096 \
      -timeout=60 -detect_leaks=0) > "$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  crashes=0
  if compgen -G "fuzz/artifacts/$bin/*" > /dev/null; then
    mkdir -p "target/fuzz-crashes/$t"
    cp fuzz/artifacts/"$bin"/* "target/fuzz-crashes/$t/"
    crashes=$(find "fuzz/artifacts/$bin" -type f | wc -l)
  fi
  [ "$rc" = 0 ] || { status=1; tail -40 "$log"; }
  summary+=("$(printf '%-14s %12s inputs  cov %6s  corpus %6s  crashes %s  (exit %s)' \
    "$t" "${execs:-?}" "${cov:-?}" "$corpus" "$crashes" "$rc")")
done
echo
echo "libFuzzer, $secs s per target, on $(nproc) cores:"
printf '%s\n' "${summary[@]}"
exit $status
