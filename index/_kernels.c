/* Window scoring (search.score_windows) in one compiled call.

The numpy version in search.py is the reference and the fallback where no C compiler was at hand on install:
this computes the same features, in the same float32 arithmetic up to the order of additions, without the
~40 numpy calls that each cost a few microseconds right after the question's encode has cooled the caches
(measured: score_windows was about half of a search on the SQuAD benchmark).

Every array comes through the buffer protocol, C-contiguous, its type checked; every row index is checked
before it is used, so bad input raises instead of reading out of bounds. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FEATURES 11 /* len(search.WINDOW_FEATURES), in that order */

enum kind { FLOAT32, FLOAT64, INT32, INT64 };

/* Get a C-contiguous buffer of ``obj`` holding items of ``want``; with ``dims`` > 0, also check its number
   of dimensions. On failure set an exception naming ``name`` and return -1 (the buffer is not held). */
static int get_buffer(PyObject *obj, Py_buffer *view, enum kind want, int writable, int dims, const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        /* say which array (the buffer's own message does not): not contiguous, read-only, not an array */
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        PyErr_NormalizeException(&type, &value, &traceback);
        PyErr_Format(PyExc_ValueError, "score_windows: %s cannot be read: %S", name, value != NULL ? value : Py_None);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(traceback);
        return -1;
    }
    const char *format = view->format ? view->format : "B";
    while (*format == '@' || *format == '=' || *format == '<') {
        format++;
    }
    int ok;
    switch (want) {
    case FLOAT32:
        ok = strcmp(format, "f") == 0;
        break;
    case FLOAT64:
        ok = strcmp(format, "d") == 0;
        break;
    case INT32:
        ok = view->itemsize == 4 && format[1] == '\0' && strchr("il", format[0]) != NULL;
        break;
    default:
        ok = view->itemsize == 8 && format[1] == '\0' && strchr("lqn", format[0]) != NULL;
        break;
    }
    if (!ok || (dims > 0 && view->ndim != dims)) {
        static const char *kinds[] = {"float32", "float64", "int32", "int64"};
        PyErr_Format(PyExc_TypeError, "score_windows: %s must be a contiguous %dD %s array", name, dims > 0 ? dims : 1,
                     kinds[want]);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static Py_ssize_t items(const Py_buffer *view) { return view->len / view->itemsize; }

/* Cosine of two unit vectors; sixteen partial sums, which the compiler keeps in vector registers. */
static float dot(const float *a, const float *b, Py_ssize_t size)
{
    float partial[16] = {0};
    Py_ssize_t i = 0;
    for (; i + 16 <= size; i += 16) {
        for (int k = 0; k < 16; k++) {
            partial[k] += a[i + k] * b[i + k];
        }
    }
    float total = 0.0f;
    for (; i < size; i++) {
        total += a[i] * b[i];
    }
    for (int k = 0; k < 16; k++) {
        total += partial[k];
    }
    return total;
}

/* Where the first of ``count`` ascending rows at or after ``row`` is. */
static Py_ssize_t lower_bound(const int32_t *rows, Py_ssize_t count, int64_t row)
{
    Py_ssize_t low = 0, high = count;
    while (low < high) {
        Py_ssize_t middle = low + (high - low) / 2;
        if (rows[middle] < row) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

/* The arrays of one call, as typed pointers with their lengths. */
struct call {
    const float *vectors, *question, *idf, *norm, *signals, *window_weights, *focus_weights;
    const int32_t *rows;
    const int64_t *key_starts, *key_counts, *pointer, *first, *last, *candidates, *passage_first, *passage_last;
    const double *outside;
    float *features, *scores, *dense, *coverage;
    Py_ssize_t sentences, dimension, row_count, keys, terms, candidate_count, windows, passages, width;
};

static const char *check(const struct call *c)
{
    for (Py_ssize_t j = 0; j < c->keys; j++) {
        if (c->key_starts[j] < 0 || c->key_counts[j] < 0 || c->key_starts[j] + c->key_counts[j] > c->row_count) {
            return "a key's postings lie outside the rows";
        }
    }
    if (c->pointer[0] != 0 || c->pointer[c->candidate_count] != c->windows) {
        return "the window pointer does not cover the windows";
    }
    for (Py_ssize_t i = 0; i < c->candidate_count; i++) {
        if (c->pointer[i + 1] <= c->pointer[i]) {
            return "a candidate has no window";
        }
        if (c->candidates[i] < 0 || c->candidates[i] >= c->passages) {
            return "a candidate is not a passage";
        }
        int64_t passage_first = c->passage_first[c->candidates[i]], passage_last = c->passage_last[c->candidates[i]];
        int64_t span_first = c->first[c->pointer[i]], span_last = c->last[c->pointer[i + 1] - 1];
        if (passage_first < span_first || passage_last > span_last || passage_first > passage_last) {
            return "a candidate passage lies outside its windows";
        }
        for (int64_t w = c->pointer[i]; w < c->pointer[i + 1]; w++) {
            if (c->first[w] < span_first || c->last[w] > span_last || c->first[w] > c->last[w]
                || c->last[w] - c->first[w] >= c->width) {
                return "a window lies outside its candidate's run of sentences";
            }
        }
        if (span_first < 0 || span_last >= c->sentences) {
            return "a window's sentences are not rows of the vectors";
        }
    }
    return NULL;
}

/* Scores the windows of each candidate in turn. ``scratch`` holds, for the longest run of sentences: their
   cosines and term shares (floats), and per sentence how many sentences of the run before it hold each key. */
static void score(const struct call *c, float *cosine, float *share, int32_t *before)
{
    const Py_ssize_t keys = c->keys, terms = c->terms;
    float idf_total = 0.0f;
    for (Py_ssize_t j = 0; j < terms; j++) {
        idf_total += c->idf[j];
    }
    if (idf_total == 0.0f) {
        idf_total = 1.0f;
    }
    for (Py_ssize_t i = 0; i < c->candidate_count; i++) {
        const int64_t span_first = c->first[c->pointer[i]], length = c->last[c->pointer[i + 1] - 1] - span_first + 1;
        for (int64_t k = 0; k < length; k++) {
            cosine[k] = dot(c->vectors + (span_first + k) * c->dimension, c->question, c->dimension);
        }
        /* which sentences hold each key, then running counts */
        memset(before, 0, sizeof(int32_t) * (size_t)((length + 1) * keys));
        for (Py_ssize_t j = 0; j < keys; j++) {
            const int32_t *rows = c->rows + c->key_starts[j];
            const Py_ssize_t count = c->key_counts[j];
            for (Py_ssize_t p = lower_bound(rows, count, span_first); p < count && rows[p] < span_first + length; p++) {
                before[(rows[p] - span_first + 1) * keys + j] = 1;
            }
        }
        for (int64_t k = 0; k < length; k++) {
            float held = 0.0f;
            for (Py_ssize_t j = 0; j < keys; j++) {
                if (j < terms && before[(k + 1) * keys + j]) {
                    held += c->idf[j];
                }
                before[(k + 1) * keys + j] += before[k * keys + j];
            }
            share[k] = held / idf_total;
        }
        /* the candidate passage's best sentence and share of terms */
        const int64_t passage_first = c->passage_first[c->candidates[i]] - span_first;
        const int64_t passage_last = c->passage_last[c->candidates[i]] - span_first;
        float passage_sentence = cosine[passage_first], passage_terms = 0.0f;
        for (int64_t k = passage_first + 1; k <= passage_last; k++) {
            passage_sentence = cosine[k] > passage_sentence ? cosine[k] : passage_sentence;
        }
        for (Py_ssize_t j = 0; j < terms; j++) {
            if (before[(passage_last + 1) * keys + j] > before[passage_first * keys + j]) {
                passage_terms += c->idf[j];
            }
        }
        passage_terms /= idf_total;
        for (int64_t w = c->pointer[i]; w < c->pointer[i + 1]; w++) {
            const int64_t first = c->first[w] - span_first, last = c->last[w] - span_first;
            float best = cosine[first], total = 0.0f, best_share = share[first], terms_held = 0.0f;
            for (int64_t k = first; k <= last; k++) {
                best = cosine[k] > best ? cosine[k] : best;
                best_share = share[k] > best_share ? share[k] : best_share;
                total += cosine[k];
            }
            Py_ssize_t pairs_held = 0;
            for (Py_ssize_t j = 0; j < keys; j++) {
                if (before[(last + 1) * keys + j] > before[first * keys + j]) {
                    if (j < terms) {
                        terms_held += c->idf[j];
                    } else {
                        pairs_held++;
                    }
                }
            }
            float *row = c->features + w * FEATURES;
            row[0] = c->signals[2 * i];
            row[1] = passage_sentence;
            row[2] = c->signals[2 * i + 1];
            row[3] = passage_terms;
            row[4] = best;
            row[5] = (float)((double)total / (double)(last - first + 1));
            row[6] = terms_held / idf_total;
            row[7] = best_share;
            row[8] = (float)c->outside[w];
            row[9] = total / c->norm[w];
            row[10] = keys > terms ? (float)((double)pairs_held / (double)(keys - terms)) : 0.0f;
            float linear = 0.0f, focus = 0.0f;
            for (int f = 0; f < FEATURES; f++) {
                linear += row[f] * c->window_weights[f];
                focus += row[f] * c->focus_weights[f];
            }
            c->scores[w] = linear + focus * focus;
            for (Py_ssize_t k = 0; k < c->width; k++) {
                const int64_t at = first + k < last ? first + k : last;
                c->dense[w * c->width + k] = cosine[at];
                c->coverage[w * c->width + k] = share[at];
            }
        }
    }
}

enum { VECTORS, QUESTION, ROWS, KEY_STARTS, KEY_COUNTS, IDF, POINTER, FIRST, LAST, OUTSIDE, NORM, CANDIDATES,
       PASSAGE_FIRST, PASSAGE_LAST, SIGNALS, WINDOW_WEIGHTS, FOCUS_WEIGHTS, OUT_FEATURES, OUT_SCORES, OUT_DENSE,
       OUT_COVERAGE, ARGUMENTS };

static const struct {
    const char *name;
    enum kind kind;
    int writable, dims;
} ARGUMENT_TYPES[ARGUMENTS] = {
    {"vectors", FLOAT32, 0, 2}, {"question", FLOAT32, 0, 1}, {"rows", INT32, 0, 1}, {"key_starts", INT64, 0, 1},
    {"key_counts", INT64, 0, 1}, {"idf", FLOAT32, 0, 1}, {"pointer", INT64, 0, 1}, {"first", INT64, 0, 1},
    {"last", INT64, 0, 1}, {"outside", FLOAT64, 0, 1}, {"norm", FLOAT32, 0, 1}, {"candidates", INT64, 0, 1},
    {"passage_first", INT64, 0, 1}, {"passage_last", INT64, 0, 1}, {"signals", FLOAT32, 0, 2},
    {"window_weights", FLOAT32, 0, 1}, {"focus_weights", FLOAT32, 0, 1}, {"features", FLOAT32, 1, 2},
    {"scores", FLOAT32, 1, 1}, {"dense", FLOAT32, 1, 2}, {"coverage", FLOAT32, 1, 2},
};

static PyObject *score_windows(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != ARGUMENTS) {
        PyErr_Format(PyExc_TypeError, "score_windows takes %d arrays (%zd given)", ARGUMENTS, nargs);
        return NULL;
    }
    Py_buffer views[ARGUMENTS];
    int held = 0;
    PyObject *result = NULL;
    for (; held < ARGUMENTS; held++) {
        if (get_buffer(args[held], &views[held], ARGUMENT_TYPES[held].kind, ARGUMENT_TYPES[held].writable,
                       ARGUMENT_TYPES[held].dims, ARGUMENT_TYPES[held].name) < 0) {
            goto done;
        }
    }
    struct call c = {
        .vectors = views[VECTORS].buf, .question = views[QUESTION].buf, .idf = views[IDF].buf,
        .norm = views[NORM].buf, .signals = views[SIGNALS].buf, .window_weights = views[WINDOW_WEIGHTS].buf,
        .focus_weights = views[FOCUS_WEIGHTS].buf, .rows = views[ROWS].buf, .key_starts = views[KEY_STARTS].buf,
        .key_counts = views[KEY_COUNTS].buf, .pointer = views[POINTER].buf, .first = views[FIRST].buf,
        .last = views[LAST].buf, .candidates = views[CANDIDATES].buf, .passage_first = views[PASSAGE_FIRST].buf,
        .passage_last = views[PASSAGE_LAST].buf, .outside = views[OUTSIDE].buf, .features = views[OUT_FEATURES].buf,
        .scores = views[OUT_SCORES].buf, .dense = views[OUT_DENSE].buf, .coverage = views[OUT_COVERAGE].buf,
        .sentences = views[VECTORS].shape[0], .dimension = views[VECTORS].shape[1], .row_count = items(&views[ROWS]),
        .keys = items(&views[KEY_STARTS]), .terms = items(&views[IDF]), .candidate_count = items(&views[CANDIDATES]),
        .windows = items(&views[FIRST]), .passages = items(&views[PASSAGE_FIRST]), .width = views[OUT_DENSE].shape[1],
    };
    const char *wrong = NULL;
    if (items(&views[QUESTION]) != c.dimension) {
        wrong = "the question's dimension is not the vectors'";
    } else if (items(&views[KEY_COUNTS]) != c.keys || c.terms > c.keys) {
        wrong = "key_counts and idf must match key_starts";
    } else if (items(&views[POINTER]) != c.candidate_count + 1 || items(&views[PASSAGE_LAST]) != c.passages
               || views[SIGNALS].shape[0] != c.candidate_count || views[SIGNALS].shape[1] != 2) {
        wrong = "pointer, passage_last and signals must match the candidates and passages";
    } else if (items(&views[LAST]) != c.windows || items(&views[OUTSIDE]) != c.windows
               || items(&views[NORM]) != c.windows || items(&views[OUT_SCORES]) != c.windows
               || views[OUT_FEATURES].shape[0] != c.windows || views[OUT_FEATURES].shape[1] != FEATURES
               || views[OUT_DENSE].shape[0] != c.windows || views[OUT_COVERAGE].shape[0] != c.windows
               || views[OUT_COVERAGE].shape[1] != c.width) {
        wrong = "the window arrays and outputs must have one row per window";
    } else if (items(&views[WINDOW_WEIGHTS]) != FEATURES || items(&views[FOCUS_WEIGHTS]) != FEATURES) {
        wrong = "there must be one weight per feature";
    } else if (c.candidate_count > 0 && c.width < 1) {
        wrong = "the outputs must have room for a sentence per window";
    } else {
        wrong = check(&c);
    }
    if (wrong != NULL) {
        PyErr_Format(PyExc_ValueError, "score_windows: %s", wrong);
        goto done;
    }
    Py_ssize_t longest = 0;
    for (Py_ssize_t i = 0; i < c.candidate_count; i++) {
        const Py_ssize_t length = c.last[c.pointer[i + 1] - 1] - c.first[c.pointer[i]] + 1;
        longest = length > longest ? length : longest;
    }
    float *floats = PyMem_RawMalloc(sizeof(float) * (size_t)(2 * longest + 1));
    int32_t *before = PyMem_RawMalloc(sizeof(int32_t) * (size_t)((longest + 1) * (c.keys + 1)));
    if (floats == NULL || before == NULL) {
        PyMem_RawFree(floats);
        PyMem_RawFree(before);
        PyErr_NoMemory();
        goto done;
    }
    /* (the buffers are held, so other threads may run Python meanwhile: the batcher's encoding workers do) */
    Py_BEGIN_ALLOW_THREADS
    score(&c, floats, floats + longest, before);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(floats);
    PyMem_RawFree(before);
    result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < held; i++) {
        PyBuffer_Release(&views[i]);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"score_windows", (PyCFunction)(void (*)(void))score_windows, METH_FASTCALL,
     "score_windows(vectors, question, rows, key_starts, key_counts, idf, pointer, first, last, outside, norm, "
     "candidates, passage_first, passage_last, signals, window_weights, focus_weights, features, scores, dense, "
     "coverage)\n\nFill features, scores, dense and coverage as search.score_windows computes them."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_kernels", .m_doc = "Compiled window scoring (see search.py).", .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
