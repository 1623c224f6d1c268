"""Any model folder kws-infer runs: a kws-export folder (kws.device.model) or a speech-embedding
one (kws.device.embedding). numpy and LiteRT only."""

from __future__ import annotations

from kws.device import embedding
from kws.device import model


def load_model(folder: str, variant: str = "int8", num_threads: int = 1):
    """The model of ``folder``: for an export folder its ``variant`` (model.load_model); for a
    speech-embedding folder an EmbeddingKeywordModel, which always streams (its head is int8:
    ``int8`` and ``stream_int8`` both run it; the float variants are refused)."""
    if embedding.is_embedding_folder(folder):
        if variant not in ("int8", "stream_int8"):
            raise model.ModelFolderError(f"{folder} is a speech-embedding model: it has one head "
                                         f"({embedding.HEAD_FILE}), run as int8; leave out "
                                         f"--variant={variant}")
        return embedding.EmbeddingKeywordModel(folder, num_threads)
    return model.load_model(folder, variant, num_threads)
