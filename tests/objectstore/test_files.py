"""Snapshots and row results on a real S3 API (moto's server): what one worker publishes another reads,
a failed upload leaves nothing a reader trusts, and bad buckets or credentials fail by name before
anything is written."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sfsync.errors import StateError
from sfsync.state import SnapshotStore, StateStore
from sfsync.state import results as results_files
from sfsync.state.objectfiles import ObjectFiles
from tests.objectstore.helpers import FaultyFS, files_config, object_files
from tests.objectstore.server import READ_ONLY_ACTIONS, Key, S3Server


def _publish(store: SnapshotStore, sync: str, gen: int, rows: int = 1000) -> None:
    pending = store.begin(sync, store.current(sync))
    pq.write_table(pa.table({"id": range(rows), "gen": [gen] * rows}), pending.snapshot_tmp)
    pq.write_table(pa.table({"id": [gen]}), pending.rejected_tmp)
    store.publish(
        pending,
        primary_key="id",
        columns=("gen",),
        types={"id": "BIGINT", "gen": "BIGINT"},
        hash_version="t",
        rows=rows,
        rejected=1,
    )


def test_a_snapshot_one_worker_publishes_is_read_by_another(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    a = SnapshotStore(object_files(s3_server, bucket, tmp_path / "a"), "snapshots")
    b = SnapshotStore(object_files(s3_server, bucket, tmp_path / "b"), "snapshots")
    assert b.current("s") is None
    _publish(a, "s", 1)
    _publish(a, "s", 2)
    _publish(a, "s", 3)
    seen = b.current("s")
    assert seen is not None and seen.generation == 3
    assert pq.read_table(seen.snapshot_path).column("gen").to_pylist() == [3] * 1000
    keys = s3_server.keys(bucket, "prod/snapshots/s/")
    # CURRENT, and the last two generations (a reader that read CURRENT just before a swap finds its files)
    assert len(keys) == 5 and "prod/snapshots/s/CURRENT" in keys
    assert sum("-000003-" in k for k in keys) == 2 and sum("-000002-" in k for k in keys) == 2, keys
    assert not [k for k in keys if "/.tmp-" in k]
    # b's copy came from the bucket into b's cache; a read its own without downloading
    assert seen.snapshot_path.is_relative_to(tmp_path / "b")


def test_a_failed_upload_leaves_the_old_snapshot_and_the_next_writer_cleans_up(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    files = object_files(s3_server, bucket, tmp_path / "a")
    store = SnapshotStore(files, "snapshots")
    _publish(store, "s", 1)

    def fail_on_publish(step: str, path: str) -> None:
        if step == "copy" and "/snapshot-000002-" in path:
            raise OSError("AWS Error NETWORK_CONNECTION during CopyObject operation: connection reset")

    files.fs = FaultyFS(files.fs, fail_on_publish)  # the upload reached its temporary key, the copy fails
    with pytest.raises(StateError, match=r"cannot upload s3://.*snapshot-000002-.*state.files"):
        _publish(store, "s", 2)
    reader = SnapshotStore(object_files(s3_server, bucket, tmp_path / "b"), "snapshots")
    info = reader.current("s")
    assert info is not None and info.generation == 1
    assert pq.read_table(info.snapshot_path).column("gen").to_pylist() == [1] * 1000
    assert not [k for k in s3_server.keys(bucket, "prod/snapshots/") if "000002" in k]

    # the upload reached the temporary key and the process died there: a `.tmp-` object stays behind,
    # no reader lists it, and the next writer removes it
    def die_before_copy(step: str, path: str) -> None:
        if step == "copy" and "/snapshot-000002-" in path:
            raise KeyboardInterrupt  # not an OSError: nothing of ours tidies up, as after a kill

    files.fs = FaultyFS(files.fs._fs, die_before_copy)
    with pytest.raises(KeyboardInterrupt):
        _publish(store, "s", 2)
    assert reader.current("s").generation == 1  # type: ignore[union-attr]
    files.fs = files.fs._fs
    _publish(store, "s", 2)
    info = reader.current("s")
    assert info is not None and info.generation == 2
    assert pq.read_table(info.snapshot_path).column("gen").to_pylist() == [2] * 1000
    assert not [k for k in s3_server.keys(bucket, "prod/snapshots/") if "/.tmp-" in k]


def _results(keys: list[str], failed: set[str]) -> pa.Table:
    return pa.table(
        {
            "primary_key": keys,
            "success": [k not in failed for k in keys],
            "record_id": [None if k in failed else f"003{k}" for k in keys],
            "error_code": ["REQUIRED_FIELD_MISSING" if k in failed else None for k in keys],
        }
    )


def test_row_results_written_by_one_worker_are_read_by_another(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    a = StateStore.open(tmp_path / "a", files=object_files(s3_server, bucket, tmp_path / "a" / "cache"))
    run = a.start_run("contacts")
    a.record_results(run.id, _results(["k1", "k2", "k3"], {"k2"}), operation="upsert")
    a.journal_add(run.id, "750J", "Contact", "upsert")
    a.journal_set_state("750J", "closed")
    a.record_results(run.id, _results(["k4"], set()), operation="upsert", collected_job_id="750J")
    assert sorted(a.accepted_keys(run.id).to_pylist()) == ["k1", "k3", "k4"]
    parts = s3_server.keys(bucket, f"prod/results/{run.id}/")
    assert len(parts) == 2 and any("-job-750J" in k for k in parts), parts

    # a second worker, same bucket (its own cache): the run's database rows are a's SQLite here, so the
    # reader opens a's store with its own files view
    reader = StateStore(a.paths, a.db, a.settings, object_files(s3_server, bucket, tmp_path / "b"))
    assert [(r.primary_key, r.success) for r in reader.row_results(run.id)] == [
        ("k1", True),
        ("k2", False),
        ("k3", True),
        ("k4", True),
    ]
    assert reader.rejected_counts(run.id) == {"REQUIRED_FIELD_MISSING": 1}
    assert (tmp_path / "a" / "cache" / "results" / str(run.id)).is_dir()  # a's own parts, cached as written
    assert reader.prune_results(keep_runs=0) == 4
    assert s3_server.keys(bucket, "prod/results/") == []
    # a prunes after b did: nothing left to delete in the bucket, and a's cached copies go too
    assert a.prune_results(keep_runs=0) == 0
    assert not (tmp_path / "a" / "cache" / "results" / str(run.id)).exists()
    a.close()


def _refused(tmp_path: Path, files: ObjectFiles) -> StateError:
    with pytest.raises(StateError) as caught:
        StateStore.open(tmp_path / "state", files=files)
    assert not (tmp_path / "state" / "state.db").exists()  # refused before the database was opened
    return caught.value


def test_a_missing_bucket_is_named_before_anything_is_written(tmp_path: Path, s3_server: S3Server) -> None:
    error = _refused(tmp_path, object_files(s3_server, "no-such-bucket-here", tmp_path / "c"))
    assert "bucket `no-such-bucket-here` named by state.files" in error.message
    assert "create the bucket" in (error.hint or "")


def test_wrong_credentials_are_named_without_the_secret(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    wrong = Key(s3_server.admin.access_key_id, "not-the-secret-4242")
    error = _refused(tmp_path, object_files(s3_server, bucket, tmp_path / "c", wrong))
    text = f"{error.message} {error.hint}"
    assert "access denied" in text and "state.files" in text and "s3:PutObject" in text
    assert "not-the-secret-4242" not in text and "not-the-secret-4242" not in repr(
        files_config(s3_server, bucket, wrong)
    )
    assert s3_server.keys(bucket) == []


def test_a_key_that_may_only_read_is_refused_before_anything_is_written(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    reader = s3_server.user(READ_ONLY_ACTIONS, bucket)
    error = _refused(tmp_path, object_files(s3_server, bucket, tmp_path / "c", reader))
    assert "access denied" in error.message and "write a test object" in error.message
    assert reader.secret_access_key not in f"{error.message} {error.hint}"
    assert s3_server.keys(bucket) == []


def test_a_result_part_whose_upload_died_is_never_read(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    files = object_files(s3_server, bucket, tmp_path / "a" / "cache")
    store = StateStore.open(tmp_path / "a", files=files)
    run = store.start_run("contacts")
    store.record_results(run.id, _results(["k1"], set()), operation="upsert")

    def die_before_publishing(step: str, path: str) -> None:
        if step == "copy" and "/part-" in path:
            raise KeyboardInterrupt  # the part is at its temporary key; the process dies (nothing tidies)

    files.fs = FaultyFS(files.fs, die_before_publishing)
    with pytest.raises(KeyboardInterrupt):
        store.record_results(run.id, _results(["k2", "k3"], set()), operation="upsert")
    files.fs = files.fs._fs
    # what a SIGKILL at that point leaves (the interrupted writer above removed its own): a whole part
    # under a temporary key
    staged = tmp_path / "staged.parquet"
    pq.write_table(results_files.normalise(run.id, _results(["k9"], set()), operation="upsert"), staged)
    s3_server.client("s3").put_object(
        Bucket=bucket,
        Key=f"prod/results/{run.id}/.tmp-0123456789ab-part-000001-wdeadbeef.parquet",
        Body=staged.read_bytes(),
    )
    other = StateStore(store.paths, store.db, store.settings, object_files(s3_server, bucket, tmp_path / "b"))
    assert [r.primary_key for r in other.row_results(run.id)] == ["k1"]
    assert other.accepted_keys(run.id).to_pylist() == ["k1"]
    store.close()
