"""pytest fixtures for the fake Discord.

Use from any conftest.py (the import registers the fixtures there)::

    from fakediscord.pytest_plugin import fake_discord, fake_discord_factory  # noqa: F401

Both fixtures point discord.py at the fake, stop it at teardown and then FAIL
the test if the bot sent anything Discord's OpenAPI spec (or its documented
rules) rejects. The async fixtures follow the project's
``asyncio_default_fixture_loop_scope``; tests using them must run on the same
loop, e.g. ``pytestmark = pytest.mark.asyncio(loop_scope="session")``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from .openapi import SpecValidator, load_spec_validator
from .server import FakeDiscord, point_discord_py_at

log = logging.getLogger(__name__)


def check_fake_after_test(fake: FakeDiscord) -> None:
    """Teardown checks shared by the fixtures (call it yourself if you build fakes by hand)."""
    if fake.response_violations:
        # The fake's own answers drifted from the spec: a bug in tests/fakediscord, not in the bot.
        log.warning("fake discord answered off-spec:\n  %s", "\n  ".join(fake.response_violations))
    if fake.unknown_routes:
        warnings.warn(
            "the bot called REST routes the fake does not implement: "
            + ", ".join(f"{r.method} {r.path}" for r in fake.unknown_routes),
            stacklevel=2,
        )
    if fake.spec_violations:
        listing = "\n  ".join(fake.spec_violations)
        pytest.fail(
            f"{len(fake.spec_violations)} Discord API violation(s) by the bot:\n  {listing}",
            pytrace=False,
        )


@pytest_asyncio.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started FakeDiscord (default world), with discord.py pointed at it."""
    fake = FakeDiscord()
    async with fake, point_discord_py_at(fake):
        yield fake
    check_fake_after_test(fake)


@pytest_asyncio.fixture
async def fake_discord_factory() -> AsyncIterator[Callable[..., Awaitable[FakeDiscord]]]:
    """``await make(**FakeDiscord kwargs)`` -> started fake; discord.py points at the latest one."""
    fakes: list[tuple[FakeDiscord, point_discord_py_at]] = []

    async def make(**kwargs: Any) -> FakeDiscord:
        fake = FakeDiscord(**kwargs)
        await fake.start()
        pointer = point_discord_py_at(fake)
        pointer.__enter__()
        fakes.append((fake, pointer))
        return fake

    yield make
    for fake, pointer in reversed(fakes):
        pointer.__exit__(None, None, None)
        await fake.stop()
    for fake, _ in fakes:
        check_fake_after_test(fake)


@pytest.fixture(scope="session")
def discord_spec() -> SpecValidator:
    """The compiled Discord OpenAPI validator (skips the test if the spec is missing)."""
    validator = load_spec_validator()
    if validator is None:
        pytest.skip("Discord OpenAPI spec not available")
    return validator
