"""The question's cosine similarity with every passage vector of a collection searched exactly.

The vectors are kept a second time as 4-bit integers (one scale per block of 128 values of a vector) and
multiplied with the question in one onnxruntime call (MatMulNBits, which packs the codes once when the session
opens and multiplies them with the question quantized to 8 bits). The first stage of a search scores every
passage, and on a small machine that product is bound by memory: reading an eighth of the bytes of float32
makes it the fastest past some 800 passages. Measured right after an encode (bench/speed.py's conditions):
898 passages (the SQuAD benchmark) 0.060 ms against 0.065 for float32 and 0.067 for int8 codes; 8,980 passages
0.15 ms against 0.67 and 0.24. Its cosines are within a few hundredths of float32's: enough to rank the
passages (bench/quality.py gave the same answer-hit@1 as float32 and int8), and the candidates' own cosines,
which their windows' scores use, are computed again in float32 (collection.QuestionCosines). Sentences are
scored for the candidates' quote windows only, and where only some passages are (one article, or past the
approximate threshold), they are scored in float32."""
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


# Below this many passages the float32 product is as fast: onnxruntime's call costs a fixed ~50 us right after an
# encode (measured, float32 against 4-bit: 640 passages 47 against 61 us, 898 passages 65 against 60 us).
QUANTIZED_FROM_PASSAGES = 768
# rows quantized together: the copies are made in blocks small enough to stay in cache
QUANTIZE_ROWS = 1024
# values of a vector that share one scale in the 4-bit codes
BLOCK = 128


def quantize_transposed(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``vectors`` as int8 codes times one scale per row, symmetric (a row's largest magnitude maps
    to 127). The codes come transposed, (dimension, rows), as a product wants them (onnx_model.py)."""
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


def quantize_blocks(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``vectors`` as 4-bit codes times one scale per block of BLOCK values, symmetric (a block's
    largest magnitude maps to 7), as MatMulNBits takes them: codes (rows, blocks, BLOCK / 2) of two values a
    byte, the first in the low half, each stored plus 8; scales (rows, blocks). A last block shorter than BLOCK
    is padded with zeros."""
    rows, dimension = vectors.shape
    blocks = -(-dimension // BLOCK)
    codes = np.empty((rows, blocks, BLOCK // 2), dtype=np.uint8)
    scales = np.empty((rows, blocks), dtype=np.float32)
    for start in range(0, rows, QUANTIZE_ROWS):
        chunk = np.zeros((min(QUANTIZE_ROWS, rows - start), blocks * BLOCK), dtype=np.float32)
        chunk[:, :dimension] = vectors[start:start + QUANTIZE_ROWS]
        chunk = chunk.reshape(len(chunk), blocks, BLOCK)
        chunk_scales = np.abs(chunk).max(axis=2) / np.float32(7.0)
        chunk_scales[chunk_scales == 0] = 1.0  # an all-zero block stays zero
        levels = (np.rint(chunk / chunk_scales[:, :, None]) + 8).astype(np.uint8)  # 1..15
        codes[start:start + len(chunk)] = levels[:, :, 0::2] | (levels[:, :, 1::2] << 4)
        scales[start:start + len(chunk)] = chunk_scales
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
    """Vectors as 4-bit codes with a scale per block of BLOCK values (``quantize_blocks``)."""

    codes: np.ndarray
    scales: np.ndarray

    @classmethod
    def of(cls, vectors: np.ndarray) -> QuantizedRows:
        return cls(*quantize_blocks(vectors))

    @classmethod
    def carried(cls, previous: QuantizedRows, previous_rows: np.ndarray, vectors: np.ndarray) -> QuantizedRows:
        """The rows of ``vectors``, taking over ``previous``'s codes where ``previous_rows`` gives a row's place
        there (-1 for a new row): an update quantizes only its new vectors (a row's codes depend on it alone)."""
        kept = previous_rows >= 0
        codes = np.empty((len(vectors),) + previous.codes.shape[1:], dtype=np.uint8)
        scales = np.empty((len(vectors),) + previous.scales.shape[1:], dtype=np.float32)
        codes[kept], scales[kept] = previous.codes[previous_rows[kept]], previous.scales[previous_rows[kept]]
        codes[~kept], scales[~kept] = quantize_blocks(vectors[~kept])
        return cls(codes, scales)


class QuantizedCosines:
    """Cosine similarities of a question with every passage vector, from their 4-bit copies, in one onnxruntime
    call: within a few hundredths of float32's."""

    @classmethod
    def of(cls, passage_vectors: np.ndarray) -> QuantizedCosines:
        return cls(QuantizedRows.of(passage_vectors), passage_vectors.shape[1])

    def __init__(self, passages: QuantizedRows, dimension: int) -> None:
        onnx, onnxruntime = _onnx()
        helper, types = onnx.helper, onnx.TensorProto
        self.passage_rows = passages
        count = len(passages.codes)
        # The arrays are handed over as initializers (constants the kernel packs once, into its own layout) rather
        # than written into the model, which would copy them through protobuf. onnxruntime does not copy them as
        # given: they are kept here.
        self._initializers = {"codes": passages.codes, "scales": passages.scales.reshape(-1)}
        product = helper.make_node(
            "MatMulNBits", ["question", "codes", "scales"], ["cosines"], domain="com.microsoft",
            K=dimension, N=count, bits=4, block_size=BLOCK,
            accuracy_level=4,  # the question quantized to 8 bits, multiplied in integers: the fast kernel
        )
        graph = helper.make_graph(
            [product],
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
