#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test of every crate.
# Installs and starts what the tests need by itself (an S3-compatible
# server and an Azure Blob Storage server on loopback, grpcio-tools for the
# Python client example, DuckDB for the Parquet checks, maturin, pyarrow,
# pandas, polars and pytest for the Python package, which it builds and
# installs) and stops the servers afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

echo "== cargo fmt --check"
cargo fmt --all -- --check
# The optional Parquet export is built, linted and tested too.
features="eventstore-cli/parquet"

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked --features "$features" -- -D warnings

echo "== starting the S3 servers"
mkdir -p target
s3_env=$(scripts/s3-server.sh)
while IFS= read -r line; do eval "export $line"; done <<< "$s3_env"
trap 'kill $S3_SERVER_PIDS 2>/dev/null || true' EXIT
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
echo "   $EVENTSTORE_TEST_S3_ENDPOINT bucket $EVENTSTORE_TEST_S3_BUCKET"

echo "== starting the Azure Blob Storage server"
azure_env=$(scripts/azure-server.sh)
while IFS= read -r line; do eval "export $line"; done <<< "$azure_env"
trap 'kill $S3_SERVER_PIDS $AZURE_SERVER_PID 2>/dev/null || true' EXIT
echo "   $EVENTSTORE_TEST_AZURE_ENDPOINT container $EVENTSTORE_TEST_AZURE_CONTAINER"

echo "== python tools (grpcio-tools for the Python client example, duckdb to read Parquet exports, the Python package's build and test tools)"
venv="${EVENTSTORE_VENV:-target/test-venv}"
if ! "$venv/bin/python" -c 'import grpc_tools, duckdb, maturin, pyarrow, pandas, polars, pytest' 2>/dev/null; then
  "$venv/bin/pip" install -q --disable-pip-version-check 'grpcio-tools==1.85.1' 'duckdb==2.0.1' \
    'maturin==1.16.0' 'pyarrow==26.0.1' 'pandas==3.1.1' 'polars==2.1.0' 'numpy==2.4.6' 'pytest==9.2.0'
fi
export EVENTSTORE_TEST_PYTHON="$PWD/$venv/bin/python"

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast --features "$features"
  cargo test --workspace --locked --doc --features "$features"
else
  cargo test --workspace --locked --no-fail-fast --features "$features"
fi

echo "== the Python package: built with maturin, installed into the test venv, its pytest suite"
# A debug build shares the workspace's compiled crates; the wheel is the
# same abi3 wheel `maturin build --release` makes, without the optimisation.
rm -rf target/wheels-test
"$venv/bin/maturin" build --quiet -m crates/eventstore-python/Cargo.toml --profile dev \
  --interpreter "$venv/bin/python" -o target/wheels-test
"$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps target/wheels-test/eventstore-*.whl
EVENTSTORE_BIN="$PWD/target/debug/eventstore" "$venv/bin/python" -m pytest -q -p no:cacheprovider crates/eventstore-python/tests
