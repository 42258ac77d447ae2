"""Fixtures: the CLI built by the test command, the real recordings, and
stores imported from them (compact files and framed files)."""

import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]


def _ci() -> bool:
    return os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def cli() -> str:
    """The `eventstore` binary (EVENTSTORE_BIN, else target/debug/eventstore)."""
    p = os.environ.get("EVENTSTORE_BIN") or str(REPO / "target" / "debug" / "eventstore")
    if not os.path.exists(p):
        if _ci():
            pytest.fail(f"the eventstore CLI is not built at {p}")
        pytest.skip(f"the eventstore CLI is not built at {p} (cargo build -p eventstore-cli)")
    return p


@pytest.fixture(scope="session")
def market_data() -> pathlib.Path:
    """The shared real recordings (EVENTSTORE_MARKET_DATA, else
    ../shared/data/market beside the repository); absent on a user's
    machine the tests that need them skip, under CI=true they fail."""
    p = pathlib.Path(os.environ.get("EVENTSTORE_MARKET_DATA") or REPO.parent / "shared" / "data" / "market")
    if not p.is_dir():
        if _ci():
            pytest.fail(f"market data not found at {p} (set EVENTSTORE_MARKET_DATA)")
        pytest.skip(f"market data not found at {p}")
    return p


def run(cli: str, root, *args: str) -> str:
    env = dict(os.environ, EVENTSTORE_ROOT=str(root))
    r = subprocess.run([cli, *args], capture_output=True, text=True, check=False, env=env)
    if r.returncode != 0:
        raise AssertionError(f"eventstore {' '.join(args)} failed: {r.stderr}")
    return r.stdout


@pytest.fixture(scope="session", params=["compact", "frames"])
def binance(request, tmp_path_factory, cli, market_data):
    """The Binance spot recording imported in minutely files: made compact
    as they are sealed, or kept as frames (`--no-compact`)."""
    root = tmp_path_factory.mktemp(f"binance-{request.param}")
    gz = market_data / "binance" / "spot_btcusdt_20240808.hftbacktest.gz"
    args = ["import", "binance", str(gz), "--roll", "1m"]
    if request.param == "frames":
        args.append("--no-compact")
    run(cli, root, *args)
    return root
