#!/usr/bin/env python3
"""Writes record-format test vectors with kafka-python's offline builders.

Run from anywhere: `python3 tests/vectors/gen_kafka_python.py` (packages in
tests/requirements.txt). The files land next to this script and are checked in; the
Rust tests in tests/record_vectors.rs decode them and compare against RECORDS below,
which they restate.

Files:
  v2_<codec>.bin        one RecordBatch v2, codec none/gzip/snappy/lz4/zstd
  v2_none_idempotent.bin  uncompressed v2 with producer id 1234, epoch 5, sequence 42
  v2_none_transactional.bin  as above, with the transactional attribute
  v<0|1>_<codec>.bin    a legacy message set, codec none/gzip/snappy/lz4
"""

import os

from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder

HERE = os.path.dirname(os.path.abspath(__file__))

BASE_TS = 1_700_000_000_000

# (offset, timestamp, key, value, headers). Values repeat so that every codec shrinks
# the batch (kafka-python sends a batch uncompressed when compression does not help).
RECORDS = [
    (0, BASE_TS, b"key-0", b"value-0 " + b"abcdefgh" * 32, [("h1", b"v1"), ("h-null", None)]),
    (1, BASE_TS + 1, None, b"", []),
    (2, BASE_TS + 7, b"", None, [("", b"")]),
    (3, BASE_TS - 3, b"key-3", b"kafkac " * 50, [("trace", b"\x00\x01\x02")]),
]

V2_CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
LEGACY_CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3}


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(bytes(data))
    print(f"{name}: {len(data)} bytes")


def v2(codec, producer_id=-1, producer_epoch=-1, base_sequence=-1, transactional=False):
    b = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=transactional,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        batch_size=1 << 20,
    )
    for offset, ts, key, value, headers in RECORDS:
        assert b.append(offset, ts, key, value, headers) is not None
    data = b.build()
    # The builder falls back to no compression when it does not pay off; make sure it did.
    assert data[21 + 1] & 0x07 == codec, "batch was not compressed"
    return data


def legacy(magic, codec):
    b = LegacyRecordBatchBuilder(magic=magic, compression_type=codec, batch_size=1 << 20)
    for offset, ts, key, value, _headers in RECORDS:
        assert b.append(offset, ts, key, value) is not None
    return b.build()


def main():
    for name, codec in V2_CODECS.items():
        write(f"v2_{name}.bin", v2(codec))
    write("v2_none_idempotent.bin", v2(0, 1234, 5, 42))
    write("v2_none_transactional.bin", v2(0, 1234, 5, 42, transactional=True))
    for magic in (0, 1):
        for name, codec in LEGACY_CODECS.items():
            write(f"v{magic}_{name}.bin", legacy(magic, codec))


if __name__ == "__main__":
    main()
