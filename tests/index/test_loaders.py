from __future__ import annotations

from pathlib import Path

import pytest

from index.errors import ArticleLoadError, ArticlesFolderError
from index.loaders import load_article, load_folder

SAMPLE = Path(__file__).resolve().parents[2] / "articles" / "000_97ab4e9c0a6dbff7.txt"


def headings(article):
    return [s.heading for s in article.sections]


def test_sample_article_title_and_three_sections():
    article = load_article(SAMPLE)
    assert article.title == "Hamas Claiming Progress in Truce Negotiations"
    assert headings(article) == [
        "The Invasion by Hamas and the Ongoing War",
        "Hamas Claiming Progress in Truce Negotiations",
        "The Need for Diplomatic Solutions and International Mediation",
    ]
    # Section bodies hold the text under the heading, not the heading line itself.
    first = article.sections[0]
    assert article.text[first.start:first.end].strip().startswith("In a shocking turn of events")
    assert "The Invasion by Hamas" not in article.text[first.start:first.end]


def test_plain_text_keeps_text_before_the_first_heading(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("My Notes\nAn opening line that belongs to no section.\n\nFirst Part\n\nBody one. More body.\n")
    article = load_article(path, tmp_path)
    assert article.title == "My Notes"
    assert headings(article) == [None, "First Part"]
    assert article.id == "notes.txt"


def test_punctuated_short_line_is_not_a_heading(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("Title\n\nIt rained.\n\nReal Heading\n\nText here.\n")
    assert headings(load_article(path)) == [None, "Real Heading"]


def test_short_lines_without_text_after_them_are_text_not_headings(tmp_path):
    """A list of short items, or a file of one line, is quoted rather than lost as headings of empty sections."""
    path = tmp_path / "packing.txt"
    path.write_text("Packing list\n\nWarm jacket for the glacier hike\n\nWater bottle\n\nSnacks\n")
    article = load_article(path)
    (section,) = article.sections
    assert section.heading is None and "Warm jacket for the glacier hike" in article.text[section.start:section.end]
    path = tmp_path / "story.txt"
    path.write_text("Story\n\nPart One\n\nChapter 1\n\nIt was a dark night.\n")
    assert headings(load_article(path)) == [None, "Chapter 1"]  # "Part One" is text of the untitled first section
    path = tmp_path / "cats.txt"
    path.write_text("Cats are great pets\n")
    article = load_article(path)
    assert article.title == "Cats are great pets"
    assert [article.text[s.start:s.end] for s in article.sections] == ["Cats are great pets"]


def test_plain_text_front_matter_gives_the_link_and_is_not_quoted(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("---\nurl: https://example.org/notes.txt\n---\nCafe notes\n\nThe cafe opens at seven.\n")
    article = load_article(path)
    assert (article.title, article.url) == ("Cafe notes", "https://example.org/notes.txt")
    assert [article.text[s.start:s.end].strip() for s in article.sections] == ["The cafe opens at seven."]
    # a title there is the title, and the first line is then text
    path.write_text("---\ntitle: Opening hours\ndate: 2024-05-01\n---\nThe cafe opens at seven.\n")
    article = load_article(path)
    assert (article.title, article.date) == ("Opening hours", "2024-05-01")
    assert [article.text[s.start:s.end].strip() for s in article.sections] == ["The cafe opens at seven."]


def test_plain_text_between_dashes_that_names_no_title_link_or_date_stays_text(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text("---\nChapter one: the start\n---\n\nIt was a dark night, and the wind was cold.\n")
    article = load_article(path)
    assert article.url is None
    assert "Chapter one: the start" in article.text[article.sections[0].start:article.sections[-1].end]


def test_markdown_front_matter_and_both_heading_styles(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text(
        "---\ntitle: The Guide\nurl: https://example.org/guide\ndate: 2024-05-01\n---\n"
        "Intro paragraph.\n\n# Setup\n\nInstall it.\n\n```\n# not a heading inside code\n```\n\n"
        "Usage\n-----\n\nRun it.\n"
    )
    article = load_article(path)
    assert article.title == "The Guide"
    assert article.url == "https://example.org/guide"
    assert article.date == "2024-05-01"
    assert headings(article) == [None, "Setup", "Usage"]
    assert "title:" not in article.text[article.sections[0].start:article.sections[0].end]


def test_markdown_leading_h1_is_the_title(tmp_path):
    path = tmp_path / "doc.md"
    path.write_text("# Big Title\n\nLead text.\n\n## Details\n\nMore.\n")
    article = load_article(path)
    assert article.title == "Big Title"
    assert headings(article) == [None, "Details"]


def test_html_main_content_and_headings(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Site | Story</title><link rel='canonical' href='https://example.org/story'></head><body>"
        "<nav>Home | About | Login</nav><article><h1>The Story</h1><p>Opening words of the story go here. "
        "They set the scene.</p><h2>Background</h2><p>Background explains the history in several words.</p>"
        "<script>var secret = 1;</script></article><footer>Copyright</footer></body></html>"
    )
    article = load_article(path)
    assert article.title == "The Story"
    assert article.url == "https://example.org/story"
    assert "Background" in headings(article)
    assert "secret" not in article.text and "Login" not in article.text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\n \t\n", "empty"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"),
        ("latin1.txt", "Caf\u00e9 society\n\nA body.".encode("latin-1"), "UTF-8"),
        ("image.png", b"not really", "unsupported"),
        ("title-only.md", b"# Just a title\n", "no text"),
    ],
)
def test_bad_files_get_a_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ArticleLoadError, match=message) as raised:
        load_article(path, tmp_path)
    assert name in str(raised.value)


def test_folder_skips_bad_files_and_keeps_the_rest(tmp_path):
    (tmp_path / "good.txt").write_text("Good\n\nSome useful text here.\n")
    (tmp_path / "bad.bin").write_bytes(b"\x00\x01")
    (tmp_path / "broken.txt").write_bytes(b"\xff\xfe\xfa broken")
    (tmp_path / ".hidden.txt").write_text("Hidden\n\nNot an article.\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "nested.md").write_text("# Nested\n\nNested text.\n")
    loaded = load_folder(tmp_path)
    assert sorted(a.id for a in loaded.articles) == ["good.txt", "sub/nested.md"]
    assert sorted(name for name, _ in loaded.skipped) == ["bad.bin", "broken.txt"]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ArticlesFolderError, match="does not exist"):
        load_folder(tmp_path / "nowhere")


def test_content_hash_changes_with_content(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("A\n\nOne.\n")
    before = load_article(path).content_hash
    path.write_text("A\n\nTwo.\n")
    assert load_article(path).content_hash != before


def test_folder_order_hidden_files_and_links(tmp_path):
    """Articles come in the order of their paths compared folder by folder (a folder's files where its name
    sorts, before a file whose name only starts with it); hidden files and folders are left out; a linked file
    is read, a linked folder is not followed, and a link to nothing, or to itself, is skipped as unreadable."""
    articles, elsewhere = tmp_path / "articles", tmp_path / "elsewhere"
    for folder in (articles / "a" / "deep", articles / ".drafts", articles / "b", elsewhere):
        folder.mkdir(parents=True)
    for relative in ("a-b.txt", "a/z.txt", "a/deep/x.md", "B.txt", "b/c.txt", ".drafts/draft.txt", "a/.notes.txt"):
        (articles / relative).write_text(f"{relative}\n\nText of {relative}.\n")
    (elsewhere / "linked.txt").write_text("Linked\n\nA file kept elsewhere.\n")
    (articles / "linked.txt").symlink_to(elsewhere / "linked.txt")
    (articles / "linked-folder").symlink_to(elsewhere, target_is_directory=True)
    (articles / "broken.txt").symlink_to(tmp_path / "missing.txt")
    (articles / "loop.md").symlink_to(articles / "loop.md")
    loaded = load_folder(articles)
    assert [a.id for a in loaded.articles] == ["B.txt", "a/deep/x.md", "a/z.txt", "a-b.txt", "b/c.txt", "linked.txt"]
    assert loaded.articles[-1].title == "Linked"
    assert [(name, reason.split(": ", 1)[1]) for name, reason in loaded.skipped] == [
        ("broken.txt", "cannot read (No such file or directory)"),
        ("loop.md", "cannot read (Too many levels of symbolic links)"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "title"),
    [
        ("_.md", "Just some body text.\n", "_.md"),  # the file name's words are blank: the name itself
        ("x.md", "---\ntitle: '  '\n---\nBody text.\n", "x"),
        ("notes.md", "---\ntitle: \"Two\\n  lines\"\n---\nBody text.\n", "Two lines"),
    ],
)
def test_titles_are_one_line_and_never_blank(tmp_path, name, content, title):
    (tmp_path / name).write_text(content)
    assert load_article(tmp_path / name).title == title
