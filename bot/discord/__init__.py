"""The Discord frontend: a discord.py bot serving the generators through slash commands."""
