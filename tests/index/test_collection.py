from __future__ import annotations

import logging

import pytest

from index import ArticleIndex, ArticlesFolderError, IndexStoreError, InvalidQuestion, UnknownArticle, open_index
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
