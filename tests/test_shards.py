import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deltaspace.errors import DataError
from deltaspace.io import shards


def _columns(n, dim=6, offset=0):
    idx = np.arange(offset, offset + n)
    return {"index": idx, "file": np.array([f"{i:05d}.png" for i in idx]),
            "s": np.arange(n * dim, dtype=np.float32).reshape(n, dim) + offset}


def test_write_read_roundtrip_fixed_size_list(tmp_path):
    cols = _columns(10)
    path = shards.write_shard(tmp_path / shards.shard_name(0), cols, metadata={"stage": "test"})
    schema = pq.read_schema(path)
    assert pa.types.is_fixed_size_list(schema.field("s").type) and schema.field("s").type.list_size == 6
    assert schema.field("s").type.value_type == pa.float32()
    assert schema.metadata[b"stage"] == b"test"
    back = shards.read_shard(path)
    np.testing.assert_array_equal(back["s"], cols["s"])
    assert back["s"].dtype == np.float32 and back["s"].shape == (10, 6)
    assert list(back["file"]) == list(cols["file"])


def test_shard_ranges_cover_rows_exactly():
    rows, per = 25, 10
    assert shards.shard_count(rows, per) == 3
    got = [i for p in range(3) for i in shards.shard_range(p, rows, per)]
    assert got == list(range(25))
    with pytest.raises(DataError):
        shards.shard_range(3, rows, per)


def test_manifest_checks_rows_schema_and_checksums(tmp_path):
    paths = [shards.write_shard(tmp_path / shards.shard_name(p), _columns(4, offset=4 * p)) for p in range(3)]
    m = shards.write_manifest(tmp_path, paths, expected_rows=12, info={"world": "mini"})
    assert m["rows"] == 12 and [e["rows"] for e in m["shards"]] == [4, 4, 4]
    assert json.loads((tmp_path / "manifest.json").read_text())["info"]["world"] == "mini"
    table = shards.read_collection(tmp_path)
    np.testing.assert_array_equal(table["index"], np.arange(12))
    with pytest.raises(DataError, match="expected 13"):
        shards.write_manifest(tmp_path, paths, expected_rows=13)
    # a shard changed after the manifest was written is caught by verification
    shards.write_shard(paths[1], _columns(4, offset=100))
    with pytest.raises(DataError, match="checksum"):
        shards.read_manifest(tmp_path, verify=True)


def test_manifest_rejects_mixed_schemas(tmp_path):
    a = shards.write_shard(tmp_path / "part-00000.parquet", _columns(3, dim=6))
    b = shards.write_shard(tmp_path / "part-00001.parquet", _columns(3, dim=7))
    with pytest.raises(DataError, match="schema"):
        shards.write_manifest(tmp_path, [a, b])


def test_table_without_manifest_is_incomplete(tmp_path):
    shards.write_shard(tmp_path / "part-00000.parquet", _columns(3))
    with pytest.raises(DataError, match="incomplete"):
        shards.read_manifest(tmp_path)


def test_killed_writer_leaves_no_shard(tmp_path):
    """A process killed while writing leaves only a hidden temp file, never part-00000.parquet."""
    target = tmp_path / "part-00000.parquet"
    script = textwrap.dedent(f"""
        import os, signal, numpy as np, pyarrow.parquet as pq
        from deltaspace.io import shards
        real_write = pq.write_table
        def write_then_die(table, where, **kw):
            real_write(table, where, **kw)
            os.kill(os.getpid(), signal.SIGKILL)  # killed after the bytes hit the disk, before the rename
        pq.write_table = write_then_die
        shards.write_shard({str(target)!r}, {{"x": np.zeros((5, 3), np.float32)}})
    """)
    proc = subprocess.run([sys.executable, "-c", script])
    assert proc.returncode == -signal.SIGKILL
    assert not target.exists()
    leftovers = os.listdir(tmp_path)
    assert leftovers and all(name.startswith(".") for name in leftovers)
