"""The question's cosine similarity with every passage and sentence vector of a collection searched exactly.

The vectors are kept a second time as 8-bit integers (one scale per vector) and multiplied with the question in
one onnxruntime call (DynamicQuantizeMatMul, whose int8 kernel works on the weights packed once when the
session opens). A search scores every vector, and on a small machine that product is bound by memory: reading a
quarter of the bytes made it 2.6 times faster than float32 (0.11 against 0.29 ms for 4,246 vectors right after
an encode, bench/speed.py), within 0.0025 of the float32 cosines, and it changed none of the answer-hit figures
of bench/quality.py. Where only some rows are scored (one article, or past the approximate threshold), they
are scored in float32 (collection.QuestionCosines)."""
from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

import numpy as np

logger = logging.getLogger(__name__)


@functools.cache
def _onnx():
    """onnx and onnxruntime, imported when the first collection is scored (not to load or list an index)."""
    import onnx
    import onnxruntime

    return onnx, onnxruntime


# rows quantized together: the transposed copy is written in blocks small enough to stay in cache
QUANTIZE_ROWS = 1024


def quantize_transposed(matrices: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``matrices`` (one after another) as int8 codes times one scale per row, symmetric (a row's
    largest magnitude maps to 127). The codes come transposed, (dimension, rows), as the product wants them."""
    rows = sum(len(m) for m in matrices)
    codes = np.empty((matrices[0].shape[1], rows), dtype=np.int8)
    scales = np.empty(rows, dtype=np.float32)
    done = 0
    for matrix in matrices:
        for start in range(0, len(matrix), QUANTIZE_ROWS):
            block = np.asarray(matrix[start:start + QUANTIZE_ROWS], dtype=np.float32)
            block_scales = np.abs(block).max(axis=1) / np.float32(127.0)
            block_scales[block_scales == 0] = 1.0  # an all-zero row stays zero
            block = block / block_scales[:, None]
            np.rint(block, out=block)
            codes[:, done:done + len(block)] = block.T
            scales[done:done + len(block)] = block_scales
            done += len(block)
    return codes, scales


def _placeholder(onnx, name: str, data_type: int, dims: list[int]):
    tensor = onnx.TensorProto(name=name, data_type=data_type, data_location=onnx.TensorProto.EXTERNAL)
    tensor.dims.extend(dims)
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", name
    return tensor


class QuantizedCosines:
    """Cosine similarities of a question with the rows of ``passage_vectors`` and ``sentence_vectors``, from an
    int8 copy of both, in one product."""

    def __init__(self, passage_vectors: np.ndarray, sentence_vectors: np.ndarray) -> None:
        self.passages = len(passage_vectors)
        codes, scales = quantize_transposed((passage_vectors, sentence_vectors))
        dimension, rows = codes.shape
        onnx, onnxruntime = _onnx()
        helper = onnx.helper
        graph = helper.make_graph(
            [helper.make_node("DynamicQuantizeMatMul", ["question", "codes", "scales"], ["cosines"], domain="com.microsoft")],
            "cosines",
            [helper.make_tensor_value_info("question", onnx.TensorProto.FLOAT, [1, dimension])],
            [helper.make_tensor_value_info("cosines", onnx.TensorProto.FLOAT, [1, rows])],
            [
                _placeholder(onnx, "codes", onnx.TensorProto.INT8, [dimension, rows]),
                _placeholder(onnx, "scales", onnx.TensorProto.FLOAT, [rows]),
            ],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one thread: more were slower on a busy 2-core machine
        options.inter_op_num_threads = 1
        # The arrays are handed over as initializers (constants the kernel packs once) rather than written
        # into the model, which would copy them through protobuf. onnxruntime does not copy them: kept here.
        self._arrays = (codes, scales)
        options.add_external_initializers(["codes", "scales"], [onnxruntime.OrtValue.ortvalue_from_numpy(a) for a in self._arrays])
        self._session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def scores(self, question_vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The cosine similarity of the question with every passage vector, then with every sentence vector."""
        question = np.asarray(question_vector, dtype=np.float32).reshape(1, -1)
        cosines = self._session.run(None, {"question": question})[0][0]
        return cosines[: self.passages], cosines[self.passages:]
