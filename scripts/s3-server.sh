#!/usr/bin/env bash
# Start a real S3-compatible server (moto, from PyPI) on a free loopback
# port for the object-storage tests, create the test bucket, and print the
# environment the tests read. Sourced by scripts/test.sh; the server stops
# with the shell that started it.
set -euo pipefail
venv="${EVENTSTORE_VENV:-target/test-venv}"
if [ ! -x "$venv/bin/moto_server" ]; then
  echo "== installing moto (S3 server for tests) into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'moto[s3,server]==5.2.5' 'flask>=3' 'flask-cors>=6'
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" > target/s3-server.log 2>&1 &
echo "S3_SERVER_PID=$!"
python3 - "$port" <<'PY'
import sys, time, urllib.request
port = sys.argv[1]
for _ in range(300):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
        break
    except Exception:
        time.sleep(0.1)
else:
    sys.exit("S3 server did not start; see target/s3-server.log")
req = urllib.request.Request(f"http://127.0.0.1:{port}/eventstore-test", method="PUT")
urllib.request.urlopen(req, timeout=5)
PY
echo "EVENTSTORE_TEST_S3_ENDPOINT=http://127.0.0.1:$port"
echo "EVENTSTORE_TEST_S3_BUCKET=eventstore-test"
