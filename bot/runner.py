"""Starting the Discord bot from the command line."""
from __future__ import annotations

import sys

from .settings import Settings


def run_bot(settings: Settings) -> int:
    print("error: the Discord bot is not built yet; use 'article-bot ask' in the terminal meanwhile.", file=sys.stderr)
    return 2
