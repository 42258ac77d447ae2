#!/usr/bin/env bash
# Start a real Azure Blob Storage server (Azurite, from npm) on a free
# loopback port for the object-storage tests, create its container, and
# print the environment the tests read. Used by scripts/test.sh, which
# stops it.
set -euo pipefail
venv="${EVENTSTORE_VENV:-target/test-venv}"
dir=target/azurite
if [ ! -x "$dir/node_modules/.bin/azurite-blob" ]; then
  echo "== installing Azurite (Azure Blob Storage server for tests) into $dir" >&2
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --silent 'azurite@3.35.0' >&2
fi
if ! "$venv/bin/python" -c 'import azure.storage.blob' 2>/dev/null; then
  "$venv/bin/pip" install -q --disable-pip-version-check 'azure-storage-blob==12.31.1' >&2
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rm -rf "$dir/data"
"$dir/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" \
  --location "$dir/data" --skipApiVersionCheck --loose --silent > target/azure-server.log 2>&1 &
pid=$!
# Azurite's well-known development account (documented by Microsoft).
account=devstoreaccount1
key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
endpoint="http://127.0.0.1:$port/$account"
"$venv/bin/python" - "$endpoint" "$account" "$key" <<'PY'
import socket, sys, time
from azure.storage.blob import BlobServiceClient
endpoint, account, key = sys.argv[1:4]
port = int(endpoint.split(":")[2].split("/")[0])
for _ in range(300):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("Azurite did not start; see target/azure-server.log")
c = BlobServiceClient.from_connection_string(
    f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};BlobEndpoint={endpoint};")
c.create_container("eventstore-test")
PY
echo "AZURE_SERVER_PID='$pid'"
echo "EVENTSTORE_TEST_AZURE_ENDPOINT=$endpoint"
echo "EVENTSTORE_TEST_AZURE_CONTAINER=eventstore-test"
echo "AZURE_STORAGE_ACCOUNT_NAME=$account"
echo "AZURE_STORAGE_ACCOUNT_KEY='$key'"
