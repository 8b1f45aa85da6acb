"""Settings for the command-line tool and the bot, from the environment or a .env file."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from index import DEFAULT_MIN_SCORE, DEFAULT_TOP_K, EmbedderSpec

IdList = Annotated[list[int], NoDecode]
# The most quotes an answer may give (each is up to a few hundred characters; ten fill a screen).
MAX_TOP_K = 10


class Settings(BaseSettings):
    """Every setting, named as its environment variable (case-insensitive). See .env.example."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: SecretStr | None = None
    articles_dir: Path = Path("articles")
    index_dir: Path = Path("data/index")
    # Only load the saved index (never build or write it): for processes sharing one index folder.
    index_read_only: bool = False
    # With it, how often to look for a newly saved index and load it (0: only on /reload).
    index_check_seconds: float = Field(default=30.0, ge=0)
    data_dir: Path = Path("data")
    server_collections: bool = False
    server_collections_dir: Path | None = None
    # Server collections kept open at once; past it the least recently used is closed (its files stay on disk).
    server_collections_open: int = Field(default=100, ge=1)
    # Members' questions are kept this many days (0: forever); a quarter shows trends without keeping them for good.
    question_log_retention_days: int = Field(default=90, ge=0)
    embedding_backend: str = "onnx-int8"
    embedding_model: Path | None = None
    embedding_threads: int | None = Field(default=None, ge=1, le=64)
    model_cache_dir: Path | None = None
    top_k: int = Field(default=DEFAULT_TOP_K, ge=1, le=MAX_TOP_K)
    min_score: float = Field(default=DEFAULT_MIN_SCORE, ge=-1.0, le=1.0)
    guild_ids: IdList = []
    moderator_role_ids: IdList = []
    moderator_user_ids: IdList = []
    cooldown_questions: int = Field(default=5, ge=1)
    cooldown_seconds: float = Field(default=30.0, ge=0)
    upload_max_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    fetch_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    fetch_timeout_seconds: float = Field(default=10.0, gt=0)
    allow_private_urls: bool = False
    watch_articles: bool = False
    log_level: str = "INFO"
    discord_api_base_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"
    # Sharding: the total number of shards of the bot (None: one unsharded connection) ...
    shard_count: int | None = Field(default=None, ge=1)
    # ... and the ones this process runs (empty: all of them).
    shard_ids: IdList = []

    @field_validator("guild_ids", "moderator_role_ids", "moderator_user_ids", "shard_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        # "1, 2,3" in the environment; a list when built in code
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator(
        "articles_dir", "index_dir", "data_dir", "embedding_model", "embedding_threads", "model_cache_dir", "shard_count",
        "server_collections_dir", mode="before",
    )
    @classmethod
    def _empty_is_default(cls, value: object, info: ValidationInfo) -> object:
        # An empty value (a blank line of .env.example kept) is the default: an empty folder would otherwise be
        # the working folder itself.
        if value is None or (isinstance(value, str) and not value.strip()):
            return cls.model_fields[info.field_name].default
        return value

    @field_validator("embedding_backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        from index.embedding import BACKENDS

        if value not in BACKENDS:
            raise ValueError(f"must be one of {', '.join(BACKENDS)}")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("watch_articles")
    @classmethod
    def _watch_needs_writable_index(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("index_read_only"):
            raise ValueError(
                "cannot be used with INDEX_READ_ONLY=true: a read-only process never rebuilds the index "
                "(run `article-bot index build`, then /reload)"
            )
        return value

    @field_validator("shard_ids")
    @classmethod
    def _shards_in_range(cls, value: list[int], info: ValidationInfo) -> list[int]:
        if not value or "shard_count" not in info.data:  # an invalid SHARD_COUNT has its own error
            return value
        count = info.data["shard_count"]
        if count is None:
            raise ValueError("needs SHARD_COUNT: the total number of shards, across every process of the bot")
        for shard in value:
            if not 0 <= shard < count:
                raise ValueError(f"shard {shard} does not exist: with SHARD_COUNT={count} the shards are 0 to {count - 1}")
        repeated = sorted({shard for shard in value if value.count(shard) > 1})
        if repeated:
            raise ValueError(f"lists shard {', '.join(map(str, repeated))} more than once")
        return value

    def shards_to_run(self) -> list[int] | None:
        """The shards this process connects, or None for one unsharded connection."""
        if self.shard_count is None:
            return None
        return list(self.shard_ids) or list(range(self.shard_count))

    @model_validator(mode="after")
    def _collections_apart(self) -> Settings:
        # Nested folders would let the default collection (DMs) index every server's articles, or a server's
        # collection be the default one; articles are loaded from subfolders too.
        if self.server_collections:
            servers, articles = self.servers_dir().resolve(), self.articles_dir.resolve()
            if servers == articles or articles in servers.parents or servers in articles.parents:
                raise ValueError(
                    f"SERVER_COLLECTIONS_DIR ({self.servers_dir()}) and ARTICLES_DIR ({self.articles_dir}) must not "
                    "contain one another: each server's articles must stay out of the default collection"
                )
        return self

    def servers_dir(self) -> Path:
        """Where each server's collection lives (SERVER_COLLECTIONS_DIR, else DATA_DIR/servers)."""
        return self.server_collections_dir or self.data_dir / "servers"

    def embedder_spec(self) -> EmbedderSpec:
        cache = self.model_cache_dir or self.data_dir / "models"
        return EmbedderSpec(self.embedding_backend, self.embedding_model, self.embedding_threads, cache_dir=cache)


def unknown_settings(env_file: Path = Path(".env")) -> list[str]:
    """The names set in ``env_file`` that are no setting (a typo is otherwise ignored without a word), each
    with the setting it most resembles if one does."""
    import difflib

    from dotenv import dotenv_values

    if not env_file.is_file():
        return []
    known = {name.upper() for name in Settings.model_fields}
    unknown = []
    for name in dotenv_values(env_file, encoding="utf-8"):
        if name.upper() not in known:
            close = difflib.get_close_matches(name.upper(), known, n=1)
            unknown.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return unknown

