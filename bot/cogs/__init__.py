"""Commands grouped by who uses them: members ask, everyone lists sources, moderators reload."""
