"""Type stubs of the eventstore package (see the module's docstring)."""

import datetime as _dt
import os
from typing import Any, Iterable, Optional, Sequence, Union

import pyarrow as pa

TimeLike = Union[int, str, _dt.datetime, _dt.date, Any]
IntervalLike = Union[str, int, _dt.timedelta, Any]

__version__: str

class EventStoreError(Exception):
    """An error from the store; its message names the stream, file, offset or sequence."""

class ArrowStream:
    """Record batches through the Arrow C stream interface (consumed once)."""
    columns: list[str]
    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object: ...

class BookState:
    at: int
    reliable: bool
    since: int
    cause: Optional[str]
    gaps: int
    crossed: bool
    snapshot_file: str
    replayed: int

def to_ns(t: TimeLike) -> int:
    """Nanoseconds since the epoch of a time in any accepted form."""

def format_time(ns: int) -> str:
    """RFC 3339 text (UTC, nanoseconds) of a time in nanoseconds."""

class Book:
    stream: str
    levels: pa.Table
    state: BookState
    @property
    def reliable(self) -> bool: ...
    def bids(self) -> pa.Table: ...
    def asks(self) -> pa.Table: ...
    def to_pandas(self) -> Any: ...

class Store:
    root: str
    url: Optional[str]
    def __init__(self, root: Union[str, os.PathLike[str]], *, cache: Optional[Union[str, os.PathLike[str]]] = None, cache_size: Union[int, str] = "10GiB", endpoint: Optional[str] = None) -> None:
        """A folder, or a remote (s3://, az://, file:///) read through a cache folder of limited size."""
    def streams(self) -> pa.Table:
        """name, kind, files, records, first, last, bytes, sealed, compact (remote: name, kind, files, first_file, last_file, bytes, cached)."""
    def cache_info(self) -> Optional[dict]:
        """downloaded, bytes, hits, evicted, last (None for a local store)."""
    def kind(self, stream: str) -> str: ...
    def metadata(self, stream: str) -> dict: ...
    def trades(self, stream: str, start: Optional[TimeLike] = None, end: Optional[TimeLike] = None, *, prices: str = "decimal") -> pa.Table:
        """The trades received in [start, end)."""
    def trades_batches(self, stream: str, start: Optional[TimeLike] = None, end: Optional[TimeLike] = None, *, rows: int = 65536) -> pa.RecordBatchReader: ...
    def levels(self, stream: str, start: Optional[TimeLike] = None, end: Optional[TimeLike] = None, *, prices: str = "decimal") -> pa.Table: ...
    def quotes(self, stream: str, start: Optional[TimeLike] = None, end: Optional[TimeLike] = None, *, prices: str = "decimal") -> pa.Table: ...
    def orders(self, stream: str, start: Optional[TimeLike] = None, end: Optional[TimeLike] = None, *, prices: str = "decimal") -> pa.Table: ...
    def records(self, stream: str, start: Optional[TimeLike] = None, end: Optional[TimeLike] = None, *, rows: int = 65536) -> pa.RecordBatchReader: ...
    def read(self, stream: str, start: Optional[TimeLike] = None, end: Optional[TimeLike] = None, *, rows: int = 65536) -> pa.RecordBatchReader:
        """Any stream's raw records: seq, ts, payload."""
    def bars(self, stream: str, interval: IntervalLike = "1m", start: Optional[TimeLike] = None, end: Optional[TimeLike] = None, *, prices: str = "decimal") -> pa.Table:
        """start, open, high, low, close, volume, buy_volume, sell_volume, vwap, trades."""
    def book(self, stream: str, at: TimeLike, depth: int = 10) -> Book: ...
    def book_snapshots(self, stream: str, interval: IntervalLike, depth: int, start: TimeLike, end: Optional[TimeLike] = None, *, prices: str = "decimal") -> pa.Table: ...
    def replay(self, streams: Sequence[str], start: Optional[TimeLike] = None, end: Optional[TimeLike] = None, *, rows: int = 65536, prices: str = "decimal") -> pa.RecordBatchReader:
        """Many market streams merged in receive time, order streams starting with their book at start."""
    def as_pandas(self, table: pa.Table) -> Any: ...
    def as_polars(self, table: pa.Table) -> Any: ...

def synth(root: Union[str, os.PathLike[str]], prefix: str, start: TimeLike, end: TimeLike, *, seed: int = 1, trades_per_sec: float = 200.0, book_updates_per_sec: float = 2000.0, symbol: str = "BTCUSDT", roll: str = "1h", compact: bool = True) -> tuple[int, int]:
    """Record a simulated market as <prefix>/trades and <prefix>/depth; returns (trades, depth)."""

class Writer:
    def __init__(self, root: Union[str, os.PathLike[str]], stream: str, *, roll: str = "1h", durability: str = "os", by_record_time: Optional[bool] = None, kind: Optional[str] = None, venue: str = "python", symbol: str = "", price_scale: Optional[int] = None, size_scale: Optional[int] = None, compact: Optional[bool] = None) -> None: ...
    @property
    def schema(self) -> Optional[pa.Schema]: ...
    def write(self, data: Any) -> range:
        """Append rows of the market kind's schema (pyarrow, pandas or polars) as records."""
    def append(self, payload: bytes, ts: Optional[TimeLike] = None) -> int: ...
    def append_batch(self, payloads: Sequence[bytes], ts: Optional[Iterable[TimeLike]] = None) -> range: ...
    @property
    def next_seq(self) -> int: ...
    def sync(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Writer": ...
    def __exit__(self, *exc: object) -> bool: ...
