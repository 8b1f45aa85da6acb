from __future__ import annotations

import logging

import pytest

from index import AmbiguousArticle, ArticleIndex, ArticlesFolderError, IndexStoreError, InvalidQuestion, UnknownArticle, open_index
from index.store import current_version

TRUCE = "Who claimed that a truce deal was close?"


def test_open_builds_then_reuses_the_saved_index(embedder, sample_articles, tmp_path):
    index_dir = tmp_path / "ix"
    first = open_index(ArticleIndex(embedder), sample_articles, index_dir)
    assert first.added == ("000_97ab4e9c0a6dbff7.txt",) and first.passages > 0
    version = current_version(index_dir)
    second = open_index(ArticleIndex(embedder), sample_articles, index_dir)
    assert not second.changed and second.unchanged == 1
    assert current_version(index_dir) == version  # nothing rewritten


def test_changed_added_and_removed_articles_are_picked_up(embedder, sample_articles, tmp_path):
    index = ArticleIndex(embedder)
    open_index(index, sample_articles, tmp_path / "ix")
    (sample_articles / "tides.md").write_text("# Tides\n\nThe moon's gravity pulls the oceans and causes the tides.\n")
    report = open_index(index, sample_articles, tmp_path / "ix")
    assert report.added == ("tides.md",) and report.unchanged == 1
    assert index.search("What causes the tides?").results[0].article == "Tides"

    (sample_articles / "tides.md").write_text("# Tides\n\nTides are caused by the moon and, less, by the sun.\n")
    report = open_index(index, sample_articles, tmp_path / "ix")
    assert report.updated == ("tides.md",)
    assert "less, by the sun" in index.search("What causes the tides?").results[0].quote

    (sample_articles / "tides.md").unlink()
    report = open_index(index, sample_articles, tmp_path / "ix")
    assert report.removed == ("tides.md",)
    assert all(r.article != "Tides" for r in index.search("What causes the tides?").results)


def test_corrupt_index_is_rebuilt_with_a_log_line(embedder, sample_articles, tmp_path, caplog):
    open_index(ArticleIndex(embedder), sample_articles, tmp_path / "ix")
    (current_version(tmp_path / "ix") / "passage_vectors.npy").write_bytes(b"garbage")
    index = ArticleIndex(embedder)
    with caplog.at_level(logging.WARNING):
        report = open_index(index, sample_articles, tmp_path / "ix")
    assert "corrupt" in caplog.text and "Rebuilding" in caplog.text
    assert report.added and index.search(TRUCE).answered
    assert ArticleIndex(embedder).load(tmp_path / "ix")  # the rebuilt index was saved


def test_missing_or_empty_folder_keeps_a_good_index(embedder, sample_articles, tmp_path, caplog):
    open_index(ArticleIndex(embedder), sample_articles, tmp_path / "ix")
    version = current_version(tmp_path / "ix")
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (tmp_path / "gone", empty):
        index = ArticleIndex(embedder)
        with caplog.at_level(logging.WARNING):
            assert open_index(index, folder, tmp_path / "ix") is None
        assert index.search(TRUCE).answered
    assert current_version(tmp_path / "ix") == version


def test_no_index_and_no_articles_is_a_clear_error(embedder, tmp_path):
    with pytest.raises(ArticlesFolderError, match="does not exist"):
        open_index(ArticleIndex(embedder), tmp_path / "gone", tmp_path / "ix")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArticlesFolderError, match="No readable articles"):
        open_index(ArticleIndex(embedder), tmp_path / "empty", tmp_path / "ix")
    assert not (tmp_path / "ix").exists()


def test_allow_empty_lets_an_emptied_folder_empty_the_index(embedder, sample_articles, tmp_path):
    """For folders only the bot fills (a server's): removing the last article empties the collection, for good."""
    open_index(ArticleIndex(embedder), sample_articles, tmp_path / "ix")
    for path in sample_articles.iterdir():
        path.unlink()
    kept = ArticleIndex(embedder)
    assert open_index(kept, sample_articles, tmp_path / "ix") is None  # by default the saved index keeps serving
    assert kept.search(TRUCE).answered
    emptied = ArticleIndex(embedder)
    report = open_index(emptied, sample_articles, tmp_path / "ix", allow_empty=True)
    assert report.removed == ("000_97ab4e9c0a6dbff7.txt",) and report.articles == 0
    assert emptied.is_empty and not emptied.search(TRUCE).answered
    reopened = ArticleIndex(embedder)
    assert reopened.load(tmp_path / "ix") and reopened.is_empty  # saved empty: a restart does not bring it back
    with pytest.raises(ArticlesFolderError, match="does not exist"):  # a missing folder is still an error
        open_index(ArticleIndex(embedder), tmp_path / "gone", tmp_path / "ix2", allow_empty=True)


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "empty"), ("   \n\t ", "empty"), ("why" * 3334, "under 1,000"), (b"truce", "must be text, not bytes")],
)
def test_bad_questions_are_refused_clearly(embedder, sample_articles, question, message):
    index = ArticleIndex(embedder)
    index.sync_folder(sample_articles)
    with pytest.raises(InvalidQuestion, match=message):
        index.search(question)


def test_article_narrowing(embedder, sample_articles):
    (sample_articles / "tides.md").write_text("# Tides\n\nThe moon's gravity causes the tides.\n")
    index = ArticleIndex(embedder)
    index.sync_folder(sample_articles)
    narrowed = index.search(TRUCE, article="tides")
    assert {r.article for r in narrowed.results} == {"Tides"}
    assert index.find_article("hamas claiming progress in truce negotiations") == "000_97ab4e9c0a6dbff7.txt"
    with pytest.raises(UnknownArticle, match="No indexed article"):
        index.search(TRUCE, article="no such article")
    assert [a.title for a in index.matching_articles("tid")] == ["Tides"]


def test_an_article_name_several_articles_share_is_refused_not_guessed(embedder, sample_articles):
    for name in ("tides.md", "tides-again.md"):
        (sample_articles / name).write_text("# Tides\n\nThe moon's gravity causes the tides.\n")
    index = ArticleIndex(embedder)
    index.sync_folder(sample_articles)
    with pytest.raises(UnknownArticle, match=r"'Tides' could be any of 2 articles \(tides-again.md, tides.md\): give its file name"):
        index.find_article("Tides")
    with pytest.raises(UnknownArticle, match="could be any of 2 articles"):
        index.find_article("tid")  # a prefix of both
    assert index.find_article("tides.md") == "tides.md" and index.find_article("tides-again") == "tides-again.md"
    with pytest.raises(AmbiguousArticle):  # several fit: the caller can tell that from none fitting
        index.find_article("Tides", prefix=False)
    with pytest.raises(UnknownArticle, match="No indexed article") as refused:
        index.find_article("tides-aga", prefix=False)  # a prefix will not do when it must be exact
    assert not isinstance(refused.value, AmbiguousArticle)


def test_upsert_and_delete(embedder, sample_articles):
    from index.loaders import load_article

    index = ArticleIndex(embedder)
    index.sync_folder(sample_articles)
    note = sample_articles / "note.txt"
    note.write_text("Lighthouse Note\n\nThe lighthouse keeper lit the lamp at dusk every evening.\n")
    assert index.upsert([load_article(note, sample_articles)]).added == ("note.txt",)
    assert index.search("When was the lamp lit?").results[0].article == "Lighthouse Note"
    assert index.delete(["note.txt"]).removed == ("note.txt",)
    assert [a.id for a in index.articles()] == ["000_97ab4e9c0a6dbff7.txt"]


TOWNS = [
    ("Arden", "1210", "salt", "Matilda Grey"), ("Brill", "1385", "wool", "Osric Vane"),
    ("Corran", "1502", "glass", "Helena Marsh"), ("Dunmore", "1644", "copper", "Tobias Reed"),
    ("Eskby", "1721", "paper", "Agnes Lowe"), ("Farrow", "1799", "rope", "Silas Hart"),
    ("Glenna", "1836", "silk", "Ivy Thorne"), ("Harlow", "1870", "clocks", "Edwin Cole"),
]


def write_towns(folder):
    folder.mkdir()
    for town, year, trade, founder in TOWNS:
        (folder / f"{town.lower()}.md").write_text(
            f"# {town}\n\n## History\n\n{town} was founded in {year} by {founder}, who built its first bridge. "
            f"The old market square of {town} still holds a fair every spring.\n\n"
            f"## Trade\n\nFor centuries {town} lived from {trade}. Its {trade} was shipped down the river to the coast.\n"
        )
    return folder


def test_past_the_threshold_an_approximate_faiss_index_is_searched_saved_and_reloaded(embedder, tmp_path, monkeypatch):
    folder = write_towns(tmp_path / "towns")
    exact = ArticleIndex(embedder)
    exact.sync_folder(folder)
    approximate = ArticleIndex(embedder, approximate_threshold=10)
    report = approximate.sync_folder(folder)
    assert report.passages >= 10
    assert exact.snapshot.approximate_passages is None
    assert approximate.snapshot.approximate_passages.kind == "ivf-sq8"

    searched = []
    original = approximate.snapshot.approximate_passages.search
    monkeypatch.setattr(approximate.snapshot.approximate_passages, "search", lambda *a: searched.append(a) or original(*a))
    questions = [f"Who founded {town}?" for town, *_ in TOWNS] + [f"What did {town} trade in?" for town, *_ in TOWNS]
    for question in questions:
        assert approximate.search(question).results[0].quote == exact.search(question).results[0].quote, question
    assert len(searched) == len(questions)
    assert "Tobias Reed" in approximate.search("Who founded Dunmore?").results[0].highlight

    approximate.save(tmp_path / "ix")
    assert (current_version(tmp_path / "ix") / "passage_index.faiss").is_file()
    loaded = ArticleIndex(embedder, approximate_threshold=10)
    assert loaded.load(tmp_path / "ix")
    assert loaded.snapshot.approximate_passages.kind == "ivf-sq8"
    assert [loaded.search(q) for q in questions[:4]] == [approximate.search(q) for q in questions[:4]]
    # the threshold of the index loading it decides: exact search below it, an approximate index built past it
    below = ArticleIndex(embedder)
    below.load(tmp_path / "ix")
    assert below.snapshot.approximate_passages is None
    assert below.search("Who founded Dunmore?").results[0].quote == exact.search("Who founded Dunmore?").results[0].quote
    exact.save(tmp_path / "exact")
    past = ArticleIndex(embedder, approximate_threshold=10)
    past.load(tmp_path / "exact")
    assert past.snapshot.approximate_passages.kind == "ivf-sq8"

    damaged = current_version(tmp_path / "ix") / "passage_index.faiss"
    damaged.write_bytes(damaged.read_bytes()[:100])
    with pytest.raises(IndexStoreError, match="corrupt or truncated"):
        ArticleIndex(embedder).load(tmp_path / "ix")


def test_updates_from_several_threads_each_build_on_the_last(embedder, sample_articles):
    import threading

    from index.loaders import article_from_text

    index = ArticleIndex(embedder)
    index.sync_folder(sample_articles)
    notes = [article_from_text(f"note-{n}.md", "code", f"# Note {n}\n\nNote number {n} is here.\n", ".md", f"h{n}") for n in range(4)]
    updates = [threading.Thread(target=index.upsert, args=(note,)) for note in notes]  # one article on its own
    updates.append(threading.Thread(target=index.delete, args=("000_97ab4e9c0a6dbff7.txt",)))  # one id on its own
    for update in updates:
        update.start()
    for update in updates:
        update.join()
    assert sorted(a.id for a in index.articles()) == [f"note-{n}.md" for n in range(4)]  # no update lost


def test_an_article_made_in_code_with_a_stale_hash_is_still_indexed_anew(embedder):
    from index.loaders import article_from_text

    index = ArticleIndex(embedder)
    index.index([article_from_text("a.md", "code", "# Rockets\n\nThe rocket launched from Florida at dawn.\n", ".md", "v1")])
    report = index.upsert([article_from_text("a.md", "code", "# Dogs\n\nDogs bark at the mail carrier every morning.\n", ".md", "v1")])
    assert report.updated == ("a.md",)
    answer = index.search("Why do dogs bark?")
    assert answer.answered and answer.results[0].quote == "Dogs bark at the mail carrier every morning."


def test_folders_may_be_given_as_text_and_an_empty_index_cannot_be_saved(embedder, sample_articles, tmp_path):
    index = ArticleIndex(embedder)
    with pytest.raises(IndexStoreError, match="Nothing to save"):
        index.save(str(tmp_path / "ix"))
    index.sync_folder(str(sample_articles))
    index.save(str(tmp_path / "ix"))
    assert ArticleIndex(embedder).load(str(tmp_path / "ix"))


def test_a_question_vector_of_another_model_is_refused(embedder, sample_articles):
    import numpy as np

    from index import IncompatibleIndex

    index = ArticleIndex(embedder)
    index.sync_folder(sample_articles)
    with pytest.raises(IncompatibleIndex, match="384-dimensional vectors and the model makes 64"):
        index.search(TRUCE, question_vector=np.ones(64, dtype=np.float32) / 8)


def test_a_reload_whose_index_cannot_be_saved_is_undone_and_saved_next_time(embedder, sample_articles, tmp_path, monkeypatch):
    from index import refresh_from_folder
    from index.store import save_snapshot

    index = ArticleIndex(embedder)
    refresh_from_folder(index, sample_articles, tmp_path / "ix")
    (sample_articles / "tides.md").write_text("# Tides\n\nThe moon's gravity causes the tides.\n")

    def disk_full(*args, **kwargs):
        raise IndexStoreError("Could not save the index in ix: No space left on device.")

    monkeypatch.setattr("index.collection.save_snapshot", disk_full)
    with pytest.raises(IndexStoreError, match="No space left"):
        refresh_from_folder(index, sample_articles, tmp_path / "ix")
    assert [a.id for a in index.articles()] == ["000_97ab4e9c0a6dbff7.txt"]  # what serves is what is saved
    monkeypatch.setattr("index.collection.save_snapshot", save_snapshot)
    report = refresh_from_folder(index, sample_articles, tmp_path / "ix")
    assert report.added == ("tides.md",)
    reopened = ArticleIndex(embedder)
    assert reopened.load(tmp_path / "ix") and len(reopened.articles()) == 2
