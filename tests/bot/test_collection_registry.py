"""The registry of collections per server: one model and one question batcher for all, each collection
opened once on first use, a server's folders apart from every other's."""
from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

import index.collection
from bot.collections import CollectionRegistry, NoArticlesYet, server_folders
from bot.settings import Settings
from index import ArticleIndex

TIDES = "# Tides\n\nThe moon's gravity pulls on the oceans and causes the tides.\n"
TRUCE = "Who claimed that a truce deal was close?"


class CountingModel:
    """Stands in for an EmbedderSpec: hands out the session's model and counts how often it is loaded."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.model_id = embedder.model_id
        self.loads = 0

    def load(self):
        self.loads += 1
        return self.embedder


def settings_for(tmp_path, sample_articles, **overrides) -> Settings:
    values = dict(articles_dir=sample_articles, index_dir=tmp_path / "index", data_dir=tmp_path / "data", server_collections=True)
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
async def registry_with(tmp_path, sample_articles, embedder):
    """``make(**settings)``: a registry over a model that counts its loads; closed after the test."""
    made: list[CollectionRegistry] = []

    def make(**overrides) -> tuple[CollectionRegistry, CountingModel]:
        model = CountingModel(embedder)
        registry = CollectionRegistry(settings_for(tmp_path, sample_articles, **overrides), ArticleIndex(model))
        made.append(registry)
        return registry, model

    yield make
    for registry in made:
        await registry.close()


async def test_collections_share_one_model_and_one_question_batcher(registry_with, tmp_path):
    registry, model = registry_with()
    await registry.default.service.open()
    folder = server_folders(tmp_path / "data" / "servers", 1).articles_dir
    folder.mkdir(parents=True)
    (folder / "tides.md").write_text(TIDES)

    first, second = await asyncio.gather(registry.get(1), registry.get(2))
    assert model.loads == 1
    assert first.index.embedder is second.index.embedder is registry.default.index.embedder
    assert first.service.encoder is second.service.encoder is registry.default.service.encoder

    tides = await first.ask("What causes the tides?")
    assert tides.answered and "moon's gravity" in tides.results[0].quote
    truce = await registry.default.ask(TRUCE)
    assert truce.answered and "Ismail Haniyeh" in truce.results[0].quote
    with pytest.raises(NoArticlesYet, match="/article add"):
        await second.ask("What causes the tides?")
    assert model.loads == 1


async def test_a_collection_opens_once_however_many_first_uses_arrive_together(registry_with, monkeypatch):
    registry, _ = registry_with()
    opened: list = []
    real_open = index.collection.open_index

    def counting_open(index_, articles_dir, index_dir, allow_empty=False):
        opened.append(index_dir)
        return real_open(index_, articles_dir, index_dir, allow_empty)

    monkeypatch.setattr("bot.service.open_index", counting_open)
    collections = await asyncio.gather(*(registry.get(7) for _ in range(5)))
    assert all(collection is collections[0] for collection in collections)
    assert collections[0].guild_id == 7 and opened == [collections[0].index_dir]
    assert await registry.get(7) is collections[0] and len(opened) == 1


async def test_a_failed_opening_is_tried_again_on_next_use(registry_with, monkeypatch):
    registry, _ = registry_with()
    real_open = index.collection.open_index
    failures = [OSError("disk on fire")]

    def flaky_open(*args):
        if failures:
            raise failures.pop()
        return real_open(*args)

    monkeypatch.setattr("bot.service.open_index", flaky_open)
    with pytest.raises(OSError, match="disk on fire"):
        await registry.get(9)
    collection = await registry.get(9)
    assert collection.guild_id == 9 and collection.index.is_empty


async def test_collections_open_lazily_and_only_when_per_server(registry_with, tmp_path):
    servers = tmp_path / "data" / "servers"
    registry, _ = registry_with()
    assert not servers.exists()  # nothing is made before a server uses the bot
    assert await registry.get(None) is registry.default
    assert (await registry.get(3)).articles_dir == servers / "3" / "articles" and (servers / "3" / "articles").is_dir()
    assert sorted(p.name for p in servers.iterdir()) == ["3"]

    off, _ = registry_with(server_collections=False)
    assert await off.get(3) is off.default and await off.get(None) is off.default


async def test_watch_mode_maps_a_changed_file_to_the_open_collection_whose_articles_it_is(registry_with, tmp_path, sample_articles):
    registry, _ = registry_with()
    servers = tmp_path / "data" / "servers"
    server = await registry.get(5)
    assert registry.owner_of(sample_articles / "new.md") is registry.default
    assert registry.owner_of(servers / "5" / "articles" / "new.md") is server
    assert registry.owner_of(servers / "5" / "index" / "CURRENT") is None  # saving an index is no article change
    assert registry.owner_of(servers / "6" / "articles" / "new.md") is None  # not open: it reads its folder on opening
    assert registry.owner_of(tmp_path / "elsewhere.md") is None


@pytest.mark.parametrize("servers_dir", ["articles", "articles/servers", "."])
def test_server_folders_may_not_overlap_the_default_articles_folder(tmp_path, servers_dir):
    with pytest.raises(ValidationError, match="must not contain one another"):
        settings_for(tmp_path, tmp_path / "articles", server_collections_dir=tmp_path / servers_dir)
    settings_for(tmp_path, tmp_path / "articles", server_collections_dir=tmp_path / servers_dir, server_collections=False)
