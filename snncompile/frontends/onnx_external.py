"""ONNX tensors kept in external data files, read only from the model's own folder: an absolute
location, a `..`, a symbolic link out of the folder or a device is refused with a sentence, so an
.onnx file cannot make snncompile read /etc/passwd or a file of the working directory (ONNX's own
loader resolves locations against the current directory when no base is given)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import Any

from snncompile.errors import ModelLoadError
from snncompile.limits import budget


def tensors(model: Any) -> Iterator[tuple[str, Any]]:
    """(where, TensorProto) of every initializer and every tensor attribute of every node."""
    for t in model.graph.initializer:
        yield f"initializer {t.name!r}", t
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield f"node {node.name or node.op_type!r} attribute {attr.name!r}", attr.t
            for t in attr.tensors:
                yield f"node {node.name or node.op_type!r} attribute {attr.name!r}", t


def _info(tensor: Any) -> dict[str, str]:
    return {entry.key: entry.value for entry in tensor.external_data}


def _confined(model_path: Path, location: str, where: str) -> Path:
    if not location:
        raise ModelLoadError(f"{model_path}: {where} is external data without a location")
    if PurePath(location).is_absolute() or "\\" in location or ":" in location:
        raise ModelLoadError(f"{model_path}: {where} keeps its data at the absolute location "
                             f"{location!r}; external data must lie in the model's folder")
    if ".." in PurePath(location).parts:
        raise ModelLoadError(f"{model_path}: {where} keeps its data at {location!r}, outside the "
                             "model's folder ('..'); external data must lie in that folder")
    folder = model_path.resolve().parent
    file = (folder / location).resolve()
    if folder not in file.parents:
        raise ModelLoadError(f"{model_path}: {where}'s external data {location!r} leads out of "
                             "the model's folder (a symbolic link)")
    if not file.is_file():
        raise ModelLoadError(f"{model_path}: {where}'s external data file {location!r} does not "
                             "exist beside the model (or is not a regular file)")
    return file


def load_external(model: Any, model_path: Path) -> None:
    """Replace every external tensor of `model` by its bytes, read from the model's folder."""
    import onnx

    for where, tensor in tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = _info(tensor)
        file = _confined(model_path, info.get("location", ""), where)
        try:
            offset = int(info.get("offset", 0))
            size = file.stat().st_size
            length = int(info["length"]) if "length" in info else size - offset
        except ValueError:
            raise ModelLoadError(f"{model_path}: {where} has a non-integer external data offset "
                                 "or length") from None
        if offset < 0 or length < 0 or offset + length > size:
            raise ModelLoadError(f"{model_path}: {where} asks for bytes {offset}..{offset + length}"
                                 f" of {info['location']!r}, which has {size}")
        if length > budget("model_bytes"):
            raise ModelLoadError(f"{model_path}: {where} holds {length:,} bytes of external data, "
                                 f"over the budget of {budget('model_bytes'):,.0f} "
                                 "(SNNCOMPILE_MAX_MODEL_BYTES)")
        with file.open("rb") as f:
            f.seek(offset)
            tensor.raw_data = f.read(length)
        tensor.data_location = onnx.TensorProto.DEFAULT
        del tensor.external_data[:]
