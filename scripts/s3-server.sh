#!/usr/bin/env bash
# Start real S3-compatible servers (moto, from PyPI) on free loopback ports
# for the object-storage tests, create their buckets, and print the
# environment the tests read. Two servers: one that accepts any
# credentials, and one that checks them (every key is unknown to it), for
# the wrong-credentials tests. Used by scripts/test.sh, which stops them.
set -euo pipefail
venv="${EVENTSTORE_VENV:-target/test-venv}"
if [ ! -x "$venv/bin/moto_server" ]; then
  echo "== installing moto (S3 server for tests) into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'moto[s3,server]==5.2.5' 'flask>=3' 'flask-cors>=6'
fi
mkdir -p target

# start NAME BUCKET [ENV=VALUE...]: start a server, wait for it, create BUCKET; prints its port.
start() {
  local name=$1 bucket=$2
  shift 2
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  env "$@" "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" > "target/s3-server-$name.log" 2>&1 &
  echo "$!" >> target/s3-server.pids
  python3 - "$port" "$bucket" "$name" <<'PY'
import socket, sys, time, urllib.request
port, bucket, name = sys.argv[1:4]
# Wait for the port to accept connections (a request would count as one
# of the server's unauthenticated actions).
for _ in range(300):
    try:
        socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit(f"S3 server {name} did not start; see target/s3-server-{name}.log")
req = urllib.request.Request(f"http://127.0.0.1:{port}/{bucket}", method="PUT")
urllib.request.urlopen(req, timeout=5)
PY
  echo "$port"
}

: > target/s3-server.pids
open_port=$(start open eventstore-test)
# Credentials are checked from the second request on (the first creates the bucket).
auth_port=$(start auth eventstore-auth INITIAL_NO_AUTH_ACTION_COUNT=1)
echo "S3_SERVER_PIDS='$(tr '\n' ' ' < target/s3-server.pids)'"
echo "EVENTSTORE_TEST_S3_ENDPOINT=http://127.0.0.1:$open_port"
echo "EVENTSTORE_TEST_S3_BUCKET=eventstore-test"
echo "EVENTSTORE_TEST_S3_AUTH_ENDPOINT=http://127.0.0.1:$auth_port"
echo "EVENTSTORE_TEST_S3_AUTH_BUCKET=eventstore-auth"
