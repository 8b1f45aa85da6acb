"""The Discord layer: a discord.py bot that answers questions from the articles index."""
