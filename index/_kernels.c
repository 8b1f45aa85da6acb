/* Window scoring (search.score_windows) and the first stage's BM25 and best passages, each in one compiled call.

The numpy versions (search.py, keyword.py) are the reference and the fallback where no C compiler was at hand
on install: these compute the same, in the same float32 arithmetic up to the order of additions, without the
dozens of numpy calls that each cost a few microseconds right after the question's encode has cooled the
caches (measured: window scoring alone was about half of a search on the SQuAD benchmark).

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
   of dimensions. On failure set an exception naming ``function`` and ``name`` and return -1 (the buffer is not
   held). */
static int get_buffer(PyObject *obj, Py_buffer *view, enum kind want, int writable, int dims, const char *function,
                      const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        /* say which array (the buffer's own message does not): not contiguous, read-only, not an array */
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        PyErr_NormalizeException(&type, &value, &traceback);
        PyErr_Format(PyExc_ValueError, "%s: %s cannot be read: %S", function, name, value != NULL ? value : Py_None);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(traceback);
        return -1;
    }
    const char *format = view->format ? view->format : "B";
    while (*format == '@' || *format == '=' || *format == '<') {
        format++;
    }
    int ok = format[0] != '\0';
    switch (want) {
    case FLOAT32:
        ok = ok && strcmp(format, "f") == 0;
        break;
    case FLOAT64:
        ok = ok && strcmp(format, "d") == 0;
        break;
    case INT32:
        ok = ok && view->itemsize == 4 && format[1] == '\0' && strchr("il", format[0]) != NULL;
        break;
    default:
        ok = ok && view->itemsize == 8 && format[1] == '\0' && strchr("lqn", format[0]) != NULL;
        break;
    }
    if (!ok || (dims > 0 && view->ndim != dims)) {
        static const char *kinds[] = {"float32", "float64", "int32", "int64"};
        PyErr_Format(PyExc_TypeError, "%s: %s must be a contiguous %dD %s array", function, name, dims > 0 ? dims : 1,
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

/* Where the first of ``count`` ascending values at or after ``value`` is (for int32 rows and int64 keys). */
#define LOWER_BOUND(name, type)                                                                                  \
    static Py_ssize_t name(const type *values, Py_ssize_t count, int64_t value)                                \
    {                                                                                                           \
        Py_ssize_t low = 0, high = count;                                                                       \
        while (low < high) {                                                                                    \
            Py_ssize_t middle = low + (high - low) / 2;                                                         \
            if (values[middle] < value) {                                                                       \
                low = middle + 1;                                                                               \
            } else {                                                                                            \
                high = middle;                                                                                  \
            }                                                                                                   \
        }                                                                                                       \
        return low;                                                                                             \
    }
LOWER_BOUND(lower_bound32, int32_t)
LOWER_BOUND(lower_bound64, int64_t)

/* The arrays of one call, as typed pointers with their lengths. The windows are those of some passages
   (``pointer``: passage i's are pointer[i]..pointer[i + 1] - 1); ``positions`` says which of those passages are
   the candidates, in order. */
struct call {
    const float *vectors, *question, *idf, *norm, *signals, *window_weights, *focus_weights;
    const int32_t *posting_rows;
    const int64_t *posting_keys, *query_keys, *pointer, *passage, *first, *last, *positions, *passage_first,
        *passage_last;
    const double *outside;
    int64_t *out_passage, *out_first, *out_last;
    float *features, *scores, *dense, *coverage;
    Py_ssize_t sentences, dimension, postings, keys, terms, windowed, windows, candidates, passages, capacity, width;
};

static const char *check(const struct call *c)
{
    Py_ssize_t selected = 0;
    for (Py_ssize_t i = 0; i < c->candidates; i++) {
        const int64_t position = c->positions[i];
        if (position < 0 || position >= c->windowed) {
            return "a position is not one of the windows' passages";
        }
        const int64_t start = c->pointer[position], end = c->pointer[position + 1];
        if (start < 0 || end <= start || end > c->windows) {
            return "a candidate's windows are not in the window arrays";
        }
        if (c->passage[start] < 0 || c->passage[start] >= c->passages) {
            return "a candidate is not a passage";
        }
        const int64_t passage_first = c->passage_first[c->passage[start]], passage_last = c->passage_last[c->passage[start]];
        const int64_t span_first = c->first[start], span_last = c->last[end - 1];
        if (span_first < 0 || span_last >= c->sentences) {
            return "a window's sentences are not rows of the vectors";
        }
        if (passage_first < span_first || passage_last > span_last || passage_first > passage_last) {
            return "a candidate passage lies outside its windows";
        }
        for (int64_t w = start; w < end; w++) {
            if (c->first[w] < span_first || c->last[w] > span_last || c->first[w] > c->last[w]
                || c->last[w] - c->first[w] >= c->width) {
                return "a window lies outside its candidate's run of sentences, or is wider than the outputs";
            }
        }
        selected += end - start;
    }
    if (selected > c->capacity) {
        return "the outputs have no room for every window";
    }
    return NULL;
}

/* Scores the windows of each candidate in turn, writing them one after another. ``cosine`` and ``share`` have
   room for the longest run of sentences, ``before`` for that run (plus one) times the keys: per sentence, how
   many sentences of the run before it hold each key. Returns how many windows were written. */
static Py_ssize_t score(const struct call *c, float *cosine, float *share, int32_t *before, Py_ssize_t *ranges)
{
    const Py_ssize_t keys = c->keys, terms = c->terms;
    /* each key's postings: the rows of key k end where those of k + 1 would start */
    for (Py_ssize_t j = 0; j < keys; j++) {
        const Py_ssize_t start = lower_bound64(c->posting_keys, c->postings, c->query_keys[j]);
        ranges[2 * j] = start;
        ranges[2 * j + 1] = lower_bound64(c->posting_keys + start, c->postings - start, c->query_keys[j] + 1);
    }
    float idf_total = 0.0f;
    for (Py_ssize_t j = 0; j < terms; j++) {
        idf_total += c->idf[j];
    }
    if (idf_total == 0.0f) {
        idf_total = 1.0f;
    }
    Py_ssize_t out = 0;
    for (Py_ssize_t i = 0; i < c->candidates; i++) {
        const int64_t start = c->pointer[c->positions[i]], end = c->pointer[c->positions[i] + 1];
        const int64_t span_first = c->first[start], length = c->last[end - 1] - span_first + 1;
        for (int64_t k = 0; k < length; k++) {
            cosine[k] = dot(c->vectors + (span_first + k) * c->dimension, c->question, c->dimension);
        }
        /* which sentences hold each key, then running counts */
        memset(before, 0, sizeof(int32_t) * (size_t)((length + 1) * keys));
        for (Py_ssize_t j = 0; j < keys; j++) {
            const int32_t *rows = c->posting_rows + ranges[2 * j];
            const Py_ssize_t count = ranges[2 * j + 1];
            for (Py_ssize_t p = lower_bound32(rows, count, span_first); p < count && rows[p] < span_first + length; p++) {
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
        const int64_t candidate = c->passage[start];
        const int64_t passage_first = c->passage_first[candidate] - span_first;
        const int64_t passage_last = c->passage_last[candidate] - span_first;
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
        for (int64_t w = start; w < end; w++, out++) {
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
            c->out_passage[out] = candidate;
            c->out_first[out] = c->first[w];
            c->out_last[out] = c->last[w];
            float *row = c->features + out * FEATURES;
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
            c->scores[out] = linear + focus * focus;
            for (Py_ssize_t k = 0; k < c->width; k++) {
                const int64_t at = first + k < last ? first + k : last;
                c->dense[out * c->width + k] = cosine[at];
                c->coverage[out * c->width + k] = share[at];
            }
        }
    }
    return out;
}

enum { VECTORS, QUESTION, POSTING_KEYS, POSTING_ROWS, QUERY_KEYS, IDF, POINTER, PASSAGE, FIRST, LAST, OUTSIDE, NORM,
       POSITIONS, PASSAGE_FIRST, PASSAGE_LAST, SIGNALS, WINDOW_WEIGHTS, FOCUS_WEIGHTS, OUT_PASSAGE, OUT_FIRST,
       OUT_LAST, OUT_FEATURES, OUT_SCORES, OUT_DENSE, OUT_COVERAGE, ARGUMENTS };

static const struct argument {
    const char *name;
    enum kind kind;
    int writable, dims;
} ARGUMENT_TYPES[ARGUMENTS] = {
    {"vectors", FLOAT32, 0, 2}, {"question", FLOAT32, 0, 1}, {"posting_keys", INT64, 0, 1},
    {"posting_rows", INT32, 0, 1}, {"query_keys", INT64, 0, 1}, {"idf", FLOAT32, 0, 1}, {"pointer", INT64, 0, 1},
    {"passage", INT64, 0, 1}, {"first", INT64, 0, 1}, {"last", INT64, 0, 1}, {"outside", FLOAT64, 0, 1},
    {"norm", FLOAT32, 0, 1}, {"positions", INT64, 0, 1}, {"passage_first", INT64, 0, 1},
    {"passage_last", INT64, 0, 1}, {"signals", FLOAT32, 0, 2}, {"window_weights", FLOAT32, 0, 1},
    {"focus_weights", FLOAT32, 0, 1}, {"out_passage", INT64, 1, 1}, {"out_first", INT64, 1, 1},
    {"out_last", INT64, 1, 1}, {"features", FLOAT32, 1, 2}, {"scores", FLOAT32, 1, 1}, {"dense", FLOAT32, 1, 2},
    {"coverage", FLOAT32, 1, 2},
};

/* Get the buffers of ``count`` arguments as ``types`` says (there must be ``count``); on failure release those
   held and return -1. */
static int get_buffers(PyObject *const *args, Py_ssize_t nargs, Py_buffer *views, const struct argument *types,
                       int count, const char *function)
{
    if (nargs != count) {
        PyErr_Format(PyExc_TypeError, "%s takes %d arrays (%zd given)", function, count, nargs);
        return -1;
    }
    for (int held = 0; held < count; held++) {
        if (get_buffer(args[held], &views[held], types[held].kind, types[held].writable, types[held].dims, function,
                       types[held].name) < 0) {
            while (held-- > 0) {
                PyBuffer_Release(&views[held]);
            }
            return -1;
        }
    }
    return 0;
}

static void release_buffers(Py_buffer *views, int count)
{
    for (int i = 0; i < count; i++) {
        PyBuffer_Release(&views[i]);
    }
}

/* window_extent(pointer, first, last, positions): how many windows the passages at ``positions`` have, and how
   many sentences the longest holds, so that the caller can make the outputs of score_windows. */
enum { EXTENT_POINTER, EXTENT_FIRST, EXTENT_LAST, EXTENT_POSITIONS, EXTENT_ARGUMENTS };

static const struct argument EXTENT_TYPES[EXTENT_ARGUMENTS] = {
    {"pointer", INT64, 0, 1}, {"first", INT64, 0, 1}, {"last", INT64, 0, 1}, {"positions", INT64, 0, 1},
};

static PyObject *window_extent(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    Py_buffer views[EXTENT_ARGUMENTS];
    if (get_buffers(args, nargs, views, EXTENT_TYPES, EXTENT_ARGUMENTS, "window_extent") < 0) {
        return NULL;
    }
    const int64_t *pointer = views[EXTENT_POINTER].buf, *first = views[EXTENT_FIRST].buf, *last = views[EXTENT_LAST].buf;
    const int64_t *positions = views[EXTENT_POSITIONS].buf;
    const Py_ssize_t passages = items(&views[EXTENT_POINTER]) - 1, windows = items(&views[EXTENT_FIRST]);
    Py_ssize_t count = 0, width = 0;
    const char *wrong = items(&views[EXTENT_LAST]) != windows ? "first and last must have one entry per window" : NULL;
    for (Py_ssize_t i = 0; wrong == NULL && i < items(&views[EXTENT_POSITIONS]); i++) {
        if (positions[i] < 0 || positions[i] >= passages) {
            wrong = "a position is not one of the windows' passages";
            break;
        }
        const int64_t start = pointer[positions[i]], end = pointer[positions[i] + 1];
        if (start < 0 || end < start || end > windows) {
            wrong = "a candidate's windows are not in the window arrays";
            break;
        }
        for (int64_t w = start; w < end; w++) {
            width = last[w] - first[w] + 1 > width ? last[w] - first[w] + 1 : width;
        }
        count += end - start;
    }
    release_buffers(views, EXTENT_ARGUMENTS);
    if (wrong != NULL) {
        PyErr_Format(PyExc_ValueError, "window_extent: %s", wrong);
        return NULL;
    }
    return Py_BuildValue("nn", count, width);
}

static PyObject *score_windows(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    Py_buffer views[ARGUMENTS];
    if (get_buffers(args, nargs, views, ARGUMENT_TYPES, ARGUMENTS, "score_windows") < 0) {
        return NULL;
    }
    PyObject *result = NULL;
    struct call c = {
        .vectors = views[VECTORS].buf, .question = views[QUESTION].buf, .idf = views[IDF].buf,
        .norm = views[NORM].buf, .signals = views[SIGNALS].buf, .window_weights = views[WINDOW_WEIGHTS].buf,
        .focus_weights = views[FOCUS_WEIGHTS].buf, .posting_rows = views[POSTING_ROWS].buf,
        .posting_keys = views[POSTING_KEYS].buf, .query_keys = views[QUERY_KEYS].buf, .pointer = views[POINTER].buf,
        .passage = views[PASSAGE].buf, .first = views[FIRST].buf, .last = views[LAST].buf,
        .positions = views[POSITIONS].buf, .passage_first = views[PASSAGE_FIRST].buf,
        .passage_last = views[PASSAGE_LAST].buf, .outside = views[OUTSIDE].buf,
        .out_passage = views[OUT_PASSAGE].buf, .out_first = views[OUT_FIRST].buf, .out_last = views[OUT_LAST].buf,
        .features = views[OUT_FEATURES].buf, .scores = views[OUT_SCORES].buf, .dense = views[OUT_DENSE].buf,
        .coverage = views[OUT_COVERAGE].buf, .sentences = views[VECTORS].shape[0],
        .dimension = views[VECTORS].shape[1], .postings = items(&views[POSTING_KEYS]),
        .keys = items(&views[QUERY_KEYS]), .terms = items(&views[IDF]), .windowed = items(&views[POINTER]) - 1,
        .windows = items(&views[FIRST]), .candidates = items(&views[POSITIONS]),
        .passages = items(&views[PASSAGE_FIRST]), .capacity = items(&views[OUT_SCORES]),
        .width = views[OUT_DENSE].shape[1],
    };
    const char *wrong = NULL;
    if (items(&views[QUESTION]) != c.dimension) {
        wrong = "the question's dimension is not the vectors'";
    } else if (items(&views[POSTING_ROWS]) != c.postings || c.terms > c.keys) {
        wrong = "posting_rows must match posting_keys, and idf the query's terms";
    } else if (c.windowed < 0 || items(&views[PASSAGE_LAST]) != c.passages || views[SIGNALS].shape[0] != c.candidates
               || views[SIGNALS].shape[1] != 2) {
        wrong = "pointer, passage_last and signals must match the passages and candidates";
    } else if (items(&views[PASSAGE]) != c.windows || items(&views[LAST]) != c.windows
               || items(&views[OUTSIDE]) != c.windows || items(&views[NORM]) != c.windows) {
        wrong = "the window arrays must have one entry per window";
    } else if (items(&views[OUT_PASSAGE]) != c.capacity || items(&views[OUT_FIRST]) != c.capacity
               || items(&views[OUT_LAST]) != c.capacity || views[OUT_FEATURES].shape[0] != c.capacity
               || views[OUT_FEATURES].shape[1] != FEATURES || views[OUT_DENSE].shape[0] != c.capacity
               || views[OUT_COVERAGE].shape[0] != c.capacity || views[OUT_COVERAGE].shape[1] != c.width) {
        wrong = "the outputs must have as many rows as each other, and features one column per feature";
    } else if (items(&views[WINDOW_WEIGHTS]) != FEATURES || items(&views[FOCUS_WEIGHTS]) != FEATURES) {
        wrong = "there must be one weight per feature";
    } else {
        wrong = check(&c);
    }
    if (wrong != NULL) {
        PyErr_Format(PyExc_ValueError, "score_windows: %s", wrong);
        release_buffers(views, ARGUMENTS);
        return NULL;
    }
    Py_ssize_t longest = 0;
    for (Py_ssize_t i = 0; i < c.candidates; i++) {
        const int64_t start = c.pointer[c.positions[i]], end = c.pointer[c.positions[i] + 1];
        longest = c.last[end - 1] - c.first[start] + 1 > longest ? c.last[end - 1] - c.first[start] + 1 : longest;
    }
    float *floats = PyMem_RawMalloc(sizeof(float) * (size_t)(2 * longest + 1));
    int32_t *before = PyMem_RawMalloc(sizeof(int32_t) * (size_t)((longest + 1) * (c.keys + 1)));
    Py_ssize_t *ranges = PyMem_RawMalloc(sizeof(Py_ssize_t) * (size_t)(2 * c.keys + 1));
    if (floats != NULL && before != NULL && ranges != NULL) {
        Py_ssize_t written;
        /* (the buffers are held, so other threads may run Python meanwhile: the batcher's encoding workers do) */
        Py_BEGIN_ALLOW_THREADS
        written = score(&c, floats, floats + longest, before, ranges);
        Py_END_ALLOW_THREADS
        result = PyLong_FromSsize_t(written);
    } else {
        PyErr_NoMemory();
    }
    PyMem_RawFree(floats);
    PyMem_RawFree(before);
    PyMem_RawFree(ranges);
    release_buffers(views, ARGUMENTS);
    return result;
}

/* bm25_scores(pointer, documents, weights, term_ids, scores): every document's BM25 for the terms ``term_ids``
   (repeats count each time), into ``scores``: a term's documents are documents[pointer[t]:pointer[t + 1]], with
   their term scores in ``weights``. Added up term after term in float32, as keyword.KeywordIndex.scores does. */
enum { BM25_POINTER, BM25_DOCUMENTS, BM25_WEIGHTS, BM25_TERMS, BM25_SCORES, BM25_ARGUMENTS };

static const struct argument BM25_TYPES[BM25_ARGUMENTS] = {
    {"pointer", INT64, 0, 1}, {"documents", INT64, 0, 1}, {"weights", FLOAT32, 0, 1}, {"term_ids", INT64, 0, 1},
    {"scores", FLOAT32, 1, 1},
};

static PyObject *bm25_scores(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    Py_buffer views[BM25_ARGUMENTS];
    if (get_buffers(args, nargs, views, BM25_TYPES, BM25_ARGUMENTS, "bm25_scores") < 0) {
        return NULL;
    }
    const int64_t *pointer = views[BM25_POINTER].buf, *documents = views[BM25_DOCUMENTS].buf;
    const int64_t *terms = views[BM25_TERMS].buf;
    const float *weights = views[BM25_WEIGHTS].buf;
    float *scores = views[BM25_SCORES].buf;
    const Py_ssize_t vocabulary = items(&views[BM25_POINTER]) - 1, postings = items(&views[BM25_DOCUMENTS]);
    const Py_ssize_t size = items(&views[BM25_SCORES]), term_count = items(&views[BM25_TERMS]);
    const char *wrong = items(&views[BM25_WEIGHTS]) != postings ? "weights must match documents" : NULL;
    for (Py_ssize_t i = 0; wrong == NULL && i < term_count; i++) {
        if (terms[i] < 0 || terms[i] >= vocabulary) {
            wrong = "a term id is not in the vocabulary";
        } else if (pointer[terms[i]] < 0 || pointer[terms[i] + 1] < pointer[terms[i]] || pointer[terms[i] + 1] > postings) {
            wrong = "a term's documents lie outside the postings";
        }
    }
    if (wrong == NULL) {
        int outside = 0;
        Py_BEGIN_ALLOW_THREADS
        memset(scores, 0, sizeof(float) * (size_t)size);
        /* each document is checked as it is added to (one pass over the postings, not two) */
        for (Py_ssize_t i = 0; i < term_count && !outside; i++) {
            for (int64_t p = pointer[terms[i]]; p < pointer[terms[i] + 1]; p++) {
                if (documents[p] < 0 || documents[p] >= size) {
                    outside = 1;
                    break;
                }
                scores[documents[p]] += weights[p];
            }
        }
        Py_END_ALLOW_THREADS
        wrong = outside ? "a posting's document is not one of the scores" : NULL;
    }
    release_buffers(views, BM25_ARGUMENTS);
    if (wrong != NULL) {
        PyErr_Format(PyExc_ValueError, "bm25_scores: %s", wrong);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* best_passages(dense, keyword, dense_weight, keyword_weight, best) -> count: the first stage's ranking, as
   search.fuse and search.top_indices make it: the passages of the highest dense * dense_weight + keyword *
   keyword_weight (float32), best first, into ``best`` (as many as it holds, or as there are passages). Among
   equal scores the later passage comes first, as top_indices orders them. */
enum { BEST_DENSE, BEST_KEYWORD, BEST_OUT, BEST_ARGUMENTS };

static const struct argument BEST_TYPES[BEST_ARGUMENTS] = {
    {"dense", FLOAT32, 0, 1}, {"keyword", FLOAT32, 0, 1}, {"best", INT64, 1, 1},
};

static PyObject *best_passages(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != BEST_ARGUMENTS + 2) {
        PyErr_Format(PyExc_TypeError, "best_passages takes 5 arguments (%zd given)", nargs);
        return NULL;
    }
    const double dense_weight = PyFloat_AsDouble(args[2]), keyword_weight = PyFloat_AsDouble(args[3]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    PyObject *const arrays[BEST_ARGUMENTS] = {args[0], args[1], args[4]};
    Py_buffer views[BEST_ARGUMENTS];
    if (get_buffers(arrays, BEST_ARGUMENTS, views, BEST_TYPES, BEST_ARGUMENTS, "best_passages") < 0) {
        return NULL;
    }
    const float *dense = views[BEST_DENSE].buf, *keyword = views[BEST_KEYWORD].buf;
    int64_t *best = views[BEST_OUT].buf;
    const Py_ssize_t size = items(&views[BEST_DENSE]);
    Py_ssize_t wanted = items(&views[BEST_OUT]), count = 0;
    wanted = wanted < size ? wanted : size;
    const int matched = items(&views[BEST_KEYWORD]) == size;
    float *kept = matched ? PyMem_RawMalloc(sizeof(float) * (size_t)(wanted + 1)) : NULL;
    if (kept != NULL) {
        const float a = (float)dense_weight, b = (float)keyword_weight;
        Py_BEGIN_ALLOW_THREADS
        /* the best so far, sorted: each passage goes in if it beats the last (or ties it, being later) */
        for (Py_ssize_t i = 0; i < size && wanted > 0; i++) {
            const float product = dense[i] * a, added = keyword[i] * b, score = product + added;
            if (count == wanted && !(score >= kept[count - 1])) {
                continue;
            }
            Py_ssize_t at = count < wanted ? count++ : count - 1;
            while (at > 0 && kept[at - 1] <= score) {
                kept[at] = kept[at - 1];
                best[at] = best[at - 1];
                at--;
            }
            kept[at] = score;
            best[at] = i;
        }
        Py_END_ALLOW_THREADS
    }
    const int failed = kept == NULL;
    PyMem_RawFree(kept);
    release_buffers(views, BEST_ARGUMENTS);
    if (failed) {
        if (!matched) {
            PyErr_SetString(PyExc_ValueError, "best_passages: keyword must have one score per passage");
        } else {
            PyErr_NoMemory();
        }
        return NULL;
    }
    return PyLong_FromSsize_t(count);
}

static PyMethodDef methods[] = {
    {"window_extent", (PyCFunction)(void (*)(void))window_extent, METH_FASTCALL,
     "window_extent(pointer, first, last, positions) -> (windows, widest)"},
    {"bm25_scores", (PyCFunction)(void (*)(void))bm25_scores, METH_FASTCALL,
     "bm25_scores(pointer, documents, weights, term_ids, scores)"},
    {"best_passages", (PyCFunction)(void (*)(void))best_passages, METH_FASTCALL,
     "best_passages(dense, keyword, dense_weight, keyword_weight, best) -> count"},
    {"score_windows", (PyCFunction)(void (*)(void))score_windows, METH_FASTCALL,
     "score_windows(vectors, question, posting_keys, posting_rows, query_keys, idf, pointer, passage, first, last, "
     "outside, norm, positions, passage_first, passage_last, signals, window_weights, focus_weights, out_passage, "
     "out_first, out_last, features, scores, dense, coverage) -> windows written\n\n"
     "Fill the outputs as search.score_windows computes them, the windows of the candidates one after another."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_kernels", .m_doc = "Compiled window scoring (see search.py).", .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
