"""Settings for the command-line tool and the bot, from the environment or a .env file."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from index import DEFAULT_MIN_SCORE, DEFAULT_TOP_K, EmbedderSpec

IdList = Annotated[list[int], NoDecode]


class Settings(BaseSettings):
    """Every setting, named as its environment variable (case-insensitive). See .env.example."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: SecretStr | None = None
    articles_dir: Path = Path("articles")
    index_dir: Path = Path("data/index")
    data_dir: Path = Path("data")
    # Members' questions are kept this many days (0: forever); a quarter shows trends without keeping them for good.
    question_log_retention_days: int = Field(default=90, ge=0)
    embedding_backend: str = "onnx-int8"
    embedding_model: Path | None = None
    embedding_threads: int | None = Field(default=None, ge=1, le=64)
    model_cache_dir: Path | None = None
    top_k: int = Field(default=DEFAULT_TOP_K, ge=1, le=10)
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

    @field_validator("guild_ids", "moderator_role_ids", "moderator_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        # "1, 2,3" in the environment; a list when built in code
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("embedding_model", "embedding_threads", "model_cache_dir", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        return None if value in ("", None) else value

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

    def embedder_spec(self) -> EmbedderSpec:
        cache = self.model_cache_dir or self.data_dir / "models"
        return EmbedderSpec(self.embedding_backend, self.embedding_model, self.embedding_threads, cache_dir=cache)
