"""Which file a checkpoint name means (best, last, a path), and the names that are refused."""

from __future__ import annotations

import pytest

from kws.training import checkpoint as ckpt


def test_names_resolve_to_the_run_files(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    with pytest.raises(ckpt.CheckpointError, match="has no finished epoch yet"):
        ckpt.resolve(str(tmp_path), "last")
    ckpt.write_state(str(folder), ckpt.State(epoch=7, step=70, last="epoch-0007.keras",
                                             best_epoch=3))
    assert ckpt.resolve(str(tmp_path), "last") == str(folder / "epoch-0007.keras")
    assert ckpt.resolve(str(tmp_path), "best") == str(folder / "best.keras")
    assert ckpt.resolve(str(tmp_path), "/else/where.keras") == "/else/where.keras"
    with pytest.raises(ckpt.CheckpointError, match="has no stream_best.keras"):
        ckpt.resolve(str(tmp_path), "stream_best")
    (folder / "stream_best.keras").write_bytes(b"")
    assert ckpt.resolve(str(tmp_path), "stream_best") == str(folder / "stream_best.keras")
    with pytest.raises(ckpt.CheckpointError,
                       match="'newest': use best, last, stream_best, or a .keras file"):
        ckpt.resolve(str(tmp_path), "newest")
