"""The ONNX copies of a sentence-transformers model: exported once from the local model, cached, verified.

Export needs torch and transformers, so they are imported here only when a cached file is missing or
corrupt; serving reads the cached file with onnxruntime alone. Nothing is ever downloaded.

Cache layout (``cache_dir`` is ``data/models`` by default)::

    <cache_dir>/<model id>-<first 16 hex digits of the model files' hash>-v<EXPORT_VERSION>/
        model.onnx            fp32 export of the transformer (token embeddings out; pooling is done in numpy)
        model.onnx.sha256     its checksum, written after it
        model-int8.onnx       the same with int8 weights (per output channel) and activations (per token)
        model-int8.onnx.sha256
    <cache_dir>/fingerprints.json   each model folder's hash, remembered against its files' sizes and times

Every file is written aside and renamed into place, and its checksum sidecar last, so a crash leaves either
no file or a file the next start rebuilds (no sidecar, or one that does not match)."""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import os
import threading
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .files import file_sha256, write_atomically

logger = logging.getLogger(__name__)

FP32 = "fp32"
INT8 = "int8"
_FILE_NAMES = {FP32: "model.onnx", INT8: "model-int8.onnx"}
_SIDECAR = ".sha256"
# Bump when the way a file is produced changes, so caches made the old way are not reused.
EXPORT_VERSION = 2
OPSET = 17
# A looked-up table with at least this many rows is a vocabulary's word embeddings, kept as int8 (_quantize_int8).
VOCABULARY_ROWS = 4096
_FINGERPRINTS = "fingerprints.json"

_build_lock = threading.Lock()  # one export at a time within a process (other processes: the lock file)
builds = 0  # exports and quantizations done by this process (tests check that a cached file is reused)


def default_cache_dir() -> Path:
    """``data/models`` under the working directory."""
    return Path.cwd() / "data" / "models"


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """What inference needs to know about a sentence-transformers folder, read from its JSON files."""

    transformer_path: Path  # the folder holding the transformer's config.json and weights
    max_seq_length: int
    pooling: str  # "mean" or "cls"


def read_model_config(model_path: Path) -> ModelConfig:
    """Where the transformer lives, its truncation length and pooling; ValueError for models we cannot pool."""
    transformer_path = model_path
    pooling_path: Path | None = None
    try:
        modules = json.loads((model_path / "modules.json").read_text())
    except FileNotFoundError:
        modules = []
    for module in modules:
        kind = module.get("type", "")
        if kind.endswith("Transformer"):
            transformer_path = model_path / module.get("path", "")
        elif kind.endswith("Pooling"):
            pooling_path = model_path / module.get("path", "")
    max_seq_length = None
    for folder in (transformer_path, model_path):
        config_file = folder / "sentence_bert_config.json"
        if config_file.is_file():
            max_seq_length = json.loads(config_file.read_text()).get("max_seq_length")
            break
    if max_seq_length is None:
        config = json.loads((transformer_path / "config.json").read_text())
        max_seq_length = min(512, int(config.get("max_position_embeddings", 512)))
    pooling = "mean"
    if pooling_path is not None and (pooling_path / "config.json").is_file():
        settings = json.loads((pooling_path / "config.json").read_text())
        modes = [key for key, value in settings.items() if key.startswith("pooling_mode") and value is True]
        if modes == ["pooling_mode_cls_token"]:
            pooling = "cls"
        elif modes != ["pooling_mode_mean_tokens"]:
            raise ValueError(f"The ONNX backends support mean or CLS pooling only; {model_path} uses {', '.join(modes)}.")
    return ModelConfig(transformer_path, int(max_seq_length), pooling)


# -- fingerprints ---------------------------------------------------------------------------------
def _model_files(model_path: Path) -> list[Path]:
    return sorted(
        path for path in model_path.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(model_path).parts)
    )


def model_fingerprint(model_path: Path, cache_dir: Path) -> str:
    """SHA-256 over the model folder's files (names and contents).

    Hashing ~90 MB of weights on every start would cost a noticeable part of the start-up, so the result
    is remembered in ``cache_dir/fingerprints.json`` against the files' names, sizes and modification
    times, and recomputed only when one of those changes."""
    model_path = model_path.resolve()
    files = _model_files(model_path)
    stamp = [[path.relative_to(model_path).as_posix(), path.stat().st_size, path.stat().st_mtime_ns] for path in files]
    memo_path = cache_dir / _FINGERPRINTS
    try:
        memo = json.loads(memo_path.read_text())
        if not isinstance(memo, dict):
            memo = {}
    except (OSError, ValueError):
        memo = {}
    remembered = memo.get(str(model_path))
    if isinstance(remembered, dict) and remembered.get("files") == stamp and isinstance(remembered.get("sha256"), str):
        return remembered["sha256"]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(model_path).as_posix().encode() + b"\0" + file_sha256(path).encode() + b"\n")
    fingerprint = digest.hexdigest()
    memo[str(model_path)] = {"files": stamp, "sha256": fingerprint}
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(memo_path, json.dumps(memo, indent=1).encode())
    except OSError as error:  # a read-only cache still works, only slower to start
        logger.debug("Could not remember the model fingerprint in %s: %s", memo_path, error)
    return fingerprint


def cache_folder(model_id: str, model_path: Path, cache_dir: Path) -> Path:
    """The folder for this model's ONNX files: its id plus a hash of its files, so a changed model is re-exported."""
    safe_id = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_id)
    return cache_dir / f"{safe_id}-{model_fingerprint(model_path, cache_dir)[:16]}-v{EXPORT_VERSION}"


# -- verifying and building -----------------------------------------------------------------------
def verify(path: Path) -> bool:
    """True if the file exists and matches its checksum sidecar."""
    sidecar = path.with_name(path.name + _SIDECAR)
    try:
        expected = sidecar.read_text().split()[0]
    except (OSError, IndexError):
        return False
    try:
        return file_sha256(path) == expected
    except OSError:
        return False


def _publish_checksum(path: Path, checksum: str | None = None) -> None:
    """Write the file's checksum sidecar (atomically)."""
    checksum = checksum or file_sha256(path)
    write_atomically(path.with_name(path.name + _SIDECAR), f"{checksum}  {path.name}\n".encode())


def _publish(temporary: Path, path: Path) -> None:
    """Move a finished file into place, then write its checksum sidecar (the mark that it is whole)."""
    checksum = file_sha256(temporary)
    path.with_name(path.name + _SIDECAR).unlink(missing_ok=True)
    os.replace(temporary, path)
    _publish_checksum(path, checksum)


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """Hold the folder's lock file, so two processes starting at once export only once."""
    with _build_lock, (folder / ".lock").open("a") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no cross-process lock; the atomic renames still keep files whole
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _export_fp32(model_path: Path, config: ModelConfig, target: Path) -> None:
    """Export the transformer to ONNX with torch (imported here only)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    except ImportError:
        pass
    # Eager attention exports as plain MatMul/Softmax, which onnxruntime runs (and quantizes) well; the SDPA
    # export adds masking ops that cost a third of the int8 model's time.
    model = AutoModel.from_pretrained(str(config.transformer_path), local_files_only=True, attn_implementation="eager")
    model.eval()
    accepts_token_types = "token_type_ids" in inspect.signature(model.forward).parameters

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if accepts_token_types else [])
    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in names)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        torch.onnx.export(
            TokenEmbeddings(model),
            example,
            str(target),
            dynamo=False,
            external_data=False,
            input_names=names,
            output_names=["token_embeddings"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "token_embeddings"]},
            opset_version=OPSET,
            do_constant_folding=True,
        )


def _quantize_int8(source: Path, target: Path) -> None:
    """int8 weights per output channel, and each token's activations quantized on its own at run time.

    Every matrix product with a constant weight (not attention's query-key products) becomes a uint8 x int8
    product (onnxruntime's MatMulIntegerToFloat) whose input is quantized token by token, symmetrically, from
    the token's largest magnitude. onnxruntime's own dynamic quantization scales a whole input at once, so a
    question's vector moved with whatever was padded into its batch (the top quote changed for 1.6% of SQuAD
    questions). Token by token, a text's vector is exactly the same alone or in any batch, so questions that
    arrive together are run together, which costs each about a third less; and the vectors are nearer fp32
    (on 512 SQuAD questions, cosine at least 0.9949 and 0.9976 on average, against 0.9889 and 0.9943:
    bench/vectors.py), for a single text's run about 10% slower."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from .dense import quantize_transposed

    model = onnx.load(str(source))
    graph = model.graph
    weights = {tensor.name: tensor for tensor in graph.initializer}
    constants = {"q/127": 127.0, "q/1_127": 1 / 127, "q/tiny": 1e-12, "q/shift": 128.5, "q/one": 1.0}
    added = [numpy_helper.from_array(np.array(value, dtype=np.float32), name) for name, value in constants.items()]
    added.append(numpy_helper.from_array(np.array(128, dtype=np.uint8), "q/zero_point"))
    nodes: list = []
    codes_of: dict[str, tuple[str, str]] = {}  # activation -> its uint8 codes and each token's scale
    weight_codes: dict[str, tuple[str, str]] = {}  # weight -> its int8 codes and each output channel's scale

    def token_codes(name: str) -> tuple[str, str]:
        # made once per activation, however many products read it (a layer's query, key and value)
        if name not in codes_of:
            token = f"{name}/per_token"
            nodes.extend([
                helper.make_node("Abs", [name], [f"{token}/abs"]),
                # (axes as an attribute: OPSET 17)
                helper.make_node("ReduceMax", [f"{token}/abs"], [f"{token}/max"], axes=[-1], keepdims=1),
                helper.make_node("Max", [f"{token}/max", "q/tiny"], [f"{token}/range"]),  # an all-zero token
                helper.make_node("Mul", [f"{token}/range", "q/1_127"], [f"{token}/scale"]),
                helper.make_node("Div", ["q/127", f"{token}/range"], [f"{token}/inverse"]),
                helper.make_node("Mul", [name, f"{token}/inverse"], [f"{token}/scaled"]),  # within [-127, 127]
                # + 128.5, then the cast truncates: the nearest code, 1..255, around the zero point 128
                helper.make_node("Add", [f"{token}/scaled", "q/shift"], [f"{token}/shifted"]),
                helper.make_node("Cast", [f"{token}/shifted"], [f"{token}/codes"], to=TensorProto.UINT8),
            ])
            codes_of[name] = (f"{token}/codes", f"{token}/scale")
        return codes_of[name]

    def channel_codes(name: str) -> tuple[str, str]:
        if name not in weight_codes:
            # a weight (inputs, outputs) is the transposed copy of its output channels' rows
            codes, scale = quantize_transposed(numpy_helper.to_array(weights[name]).T)
            added.extend([numpy_helper.from_array(codes, f"{name}/codes"), numpy_helper.from_array(scale, f"{name}/scale")])
            weight_codes[name] = (f"{name}/codes", f"{name}/scale")
        return weight_codes[name]

    def row_codes(name: str) -> tuple[str, str]:
        codes, scale = quantize_transposed(numpy_helper.to_array(weights[name]))
        added.extend([
            numpy_helper.from_array(np.ascontiguousarray(codes.T), f"{name}/codes"),
            numpy_helper.from_array(scale.reshape(-1, 1), f"{name}/scale"),  # (rows, 1): a gathered row's scale
        ])
        return f"{name}/codes", f"{name}/scale"

    for node in graph.node:
        table = weights.get(node.input[0]) if node.op_type == "Gather" else None
        if table is not None and len(table.dims) == 2 and table.dims[0] >= VOCABULARY_ROWS and table.data_type == TensorProto.FLOAT \
                and all(attribute.i == 0 for attribute in node.attribute if attribute.name == "axis"):
            # the word embeddings: int8 per row (a token's vector looked up, then scaled back), a quarter of
            # the float table's memory
            codes, scale = row_codes(node.input[0])
            found = f"{node.output[0]}/per_row"
            nodes.extend([
                helper.make_node("Gather", [codes, node.input[1]], [f"{found}/codes"], axis=0),
                helper.make_node("Cast", [f"{found}/codes"], [f"{found}/values"], to=TensorProto.FLOAT),
                helper.make_node("Gather", [scale, node.input[1]], [f"{found}/scale"], axis=0),
                helper.make_node("Mul", [f"{found}/values", f"{found}/scale"], [node.output[0]]),
            ])
            continue
        weight = weights.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is None or len(weight.dims) != 2 or weight.data_type != TensorProto.FLOAT:
            nodes.append(node)
            continue
        codes, token_scale = token_codes(node.input[0])
        weight_name, channel_scale = channel_codes(node.input[1])
        product = f"{node.output[0]}/unscaled"
        nodes.append(helper.make_node(
            "MatMulIntegerToFloat", [codes, weight_name, "q/one", channel_scale, "q/zero_point"], [product],
            domain="com.microsoft",
        ))
        nodes.append(helper.make_node("Mul", [product, token_scale], [node.output[0]]))
    used = {name for node in nodes for name in node.input}
    kept = [tensor for tensor in graph.initializer if tensor.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(target))


def ensure_model(model_path: Path, model_id: str, variant: str, cache_dir: Path, *, rebuild: bool = False) -> Path:
    """The cached ONNX file for the model (``variant`` FP32 or INT8), exported or quantized first if it is
    missing or fails its checksum. ``rebuild`` forces it (e.g. when onnxruntime could not load the file)."""
    global builds
    if variant not in _FILE_NAMES:
        raise ValueError(f"Unknown ONNX variant {variant!r}")
    folder = cache_folder(model_id, model_path, cache_dir)
    target = folder / _FILE_NAMES[variant]
    if not rebuild and verify(target):
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with _exclusive(folder):
        if not rebuild and verify(target):  # another process built it while we waited
            return target
        if target.exists():
            logger.warning("The cached ONNX model %s is corrupt or incomplete; rebuilding it.", target)
        config = read_model_config(model_path)
        fp32 = folder / _FILE_NAMES[FP32]
        if variant == FP32 or not verify(fp32):
            logger.warning("Exporting %s to ONNX in %s (once; this takes a few seconds).", model_id, folder)
            temporary = folder / f".{fp32.name}.{uuid.uuid4().hex[:8]}.tmp"
            try:
                _export_fp32(model_path, config, temporary)
                _publish(temporary, fp32)
            finally:
                temporary.unlink(missing_ok=True)
            builds += 1
        if variant == INT8:
            logger.warning("Quantizing %s to int8 in %s (once).", model_id, folder)
            temporary = folder / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
            try:
                _quantize_int8(fp32, temporary)
                _publish(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)
            builds += 1
    return target
