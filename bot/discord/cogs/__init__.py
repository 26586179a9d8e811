"""One cog per product, plus /models and /stats; each module ends with ``setup(bot)``."""
