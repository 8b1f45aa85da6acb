"""The question's cosine similarity with every passage vector of a collection searched exactly.

The vectors are kept a second time as 8-bit integers (one scale per vector) and multiplied with the question in
one onnxruntime call (DynamicQuantizeMatMul, whose int8 kernel works on the weights packed once when the
session opens). The first stage of a search scores every passage, and on a small machine that product is bound
by memory: reading a quarter of the bytes makes it faster than float32 past some 640 passages (0.08 against
0.11 ms for the 898 of the SQuAD benchmark, right after an encode), within 0.0025 of the float32 cosines, and
it changed none of the answer-hit figures of bench/quality.py. Sentences are scored for the candidates' quote
windows only, and where only some passages are (one article, or past the approximate threshold), they are
scored in float32 (collection.QuestionCosines)."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@functools.cache
def _onnx():
    """onnx and onnxruntime, imported when the first collection is scored (not to load or list an index)."""
    import onnx
    import onnxruntime

    return onnx, onnxruntime


# Below this many passages the float32 product is faster: onnxruntime's call costs a fixed ~50 us right after an
# encode (measured, float32 against int8: 512 passages 52 against 67 us, 768 passages 90 against 78 us).
QUANTIZED_FROM_PASSAGES = 640
# rows quantized together: the transposed copy is written in blocks small enough to stay in cache
QUANTIZE_ROWS = 1024


def quantize_transposed(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``vectors`` as int8 codes times one scale per row, symmetric (a row's largest magnitude maps
    to 127). The codes come transposed, (dimension, rows), as the product wants them."""
    codes = np.empty((vectors.shape[1], len(vectors)), dtype=np.int8)
    scales = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), QUANTIZE_ROWS):
        block = np.asarray(vectors[start:start + QUANTIZE_ROWS], dtype=np.float32)
        block_scales = np.abs(block).max(axis=1) / np.float32(127.0)
        block_scales[block_scales == 0] = 1.0  # an all-zero row stays zero
        block = block / block_scales[:, None]
        np.rint(block, out=block)
        codes[:, start:start + len(block)] = block.T
        scales[start:start + len(block)] = block_scales
    return codes, scales


def _placeholder(onnx, name: str, array: np.ndarray):
    """An initializer whose data is handed to the session separately (add_external_initializers)."""
    data_type = onnx.helper.np_dtype_to_tensor_dtype(array.dtype)
    tensor = onnx.TensorProto(name=name, data_type=data_type, data_location=onnx.TensorProto.EXTERNAL)
    tensor.dims.extend(array.shape)
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", name
    return tensor


@dataclass(frozen=True, slots=True)
class QuantizedRows:
    """Vectors as int8 codes, transposed (dimension, rows), times one scale per row (``quantize_transposed``)."""

    codes: np.ndarray
    scales: np.ndarray

    @classmethod
    def of(cls, vectors: np.ndarray) -> QuantizedRows:
        return cls(*quantize_transposed(vectors))

    @classmethod
    def carried(cls, previous: QuantizedRows, previous_rows: np.ndarray, vectors: np.ndarray) -> QuantizedRows:
        """The rows of ``vectors``, taking over ``previous``'s codes where ``previous_rows`` gives a row's place
        there (-1 for a new row): an update quantizes only its new vectors (a row's codes depend on it alone)."""
        kept = np.flatnonzero(previous_rows >= 0)
        fresh = np.flatnonzero(previous_rows < 0)
        codes = np.empty((vectors.shape[1], len(vectors)), dtype=np.int8)
        scales = np.empty(len(vectors), dtype=np.float32)
        scales[kept] = previous.scales[previous_rows[kept]]
        # Unchanged articles keep their rows in runs: copied run by run, as slices (picking the columns one by one
        # took most of an update's time here).
        old = previous_rows[kept]
        breaks = np.flatnonzero((np.diff(kept) != 1) | (np.diff(old) != 1)) + 1
        runs = zip(np.concatenate(([0], breaks)).tolist(), np.concatenate((breaks, [len(kept)])).tolist()) if len(kept) else ()
        for start, end in runs:
            first, old_first = int(kept[start]), int(old[start])
            codes[:, first:first + end - start] = previous.codes[:, old_first:old_first + end - start]
        codes[:, fresh], scales[fresh] = quantize_transposed(vectors[fresh])
        return cls(codes, scales)


class QuantizedCosines:
    """Cosine similarities of a question with every passage vector, from their int8 copies, in one onnxruntime
    call."""

    @classmethod
    def of(cls, passage_vectors: np.ndarray) -> QuantizedCosines:
        return cls(QuantizedRows.of(passage_vectors))

    def __init__(self, passages: QuantizedRows) -> None:
        onnx, onnxruntime = _onnx()
        helper, types = onnx.helper, onnx.TensorProto
        self.passage_rows = passages
        dimension, count = passages.codes.shape
        # The arrays are handed over as initializers (constants the kernel packs once) rather than written into
        # the model, which would copy them through protobuf. onnxruntime does not copy them: they are kept here.
        self._initializers = {"codes": passages.codes, "scales": passages.scales}
        graph = helper.make_graph(
            [helper.make_node("DynamicQuantizeMatMul", ["question", "codes", "scales"], ["cosines"], domain="com.microsoft")],
            "cosines",
            [helper.make_tensor_value_info("question", types.FLOAT, [1, dimension])],
            [helper.make_tensor_value_info("cosines", types.FLOAT, [1, count])],
            [_placeholder(onnx, name, array) for name, array in self._initializers.items()],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one thread: more were slower on a busy 2-core machine
        options.inter_op_num_threads = 1
        options.add_external_initializers(
            list(self._initializers), [onnxruntime.OrtValue.ortvalue_from_numpy(a) for a in self._initializers.values()]
        )
        self._session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def scores(self, question_vector: np.ndarray) -> np.ndarray:
        """The question's cosine similarity with every passage vector."""
        question = np.asarray(question_vector, dtype=np.float32).reshape(1, -1)
        return self._session.run(None, {"question": question})[0][0]
