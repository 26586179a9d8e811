# The serving image: onnxruntime + numpy + discord.py + aiosqlite, prometheus-client (the
# metrics extra, so BOT_METRICS_PORT works) and asyncpg (the postgres extra, so BOT_DB_URL
# can be a postgresql:// URL, as in docker-compose.yml); no torch, no training code.
#   docker build -t lstm-bot .
#   docker run -e DISCORD_TOKEN=... -v lstm-bot-data:/data lstm-bot
#   docker run --rm -e DISCORD_TOKEN=... lstm-bot python -m bot sync --guild ID
#   docker run -e DISCORD_TOKEN=... -e BOT_METRICS_PORT=9100 -e BOT_METRICS_HOST=0.0.0.0 \
#     -p 9100:9100 -v lstm-bot-data:/data lstm-bot     (Prometheus metrics at :9100/metrics)
#
# Shutdown: `docker stop` sends SIGTERM and kills the process 10 s later by default. The bot
# gives in-flight generations BOT_SHUTDOWN_GRACE seconds, then up to 3 s to close the stopped
# replies with a note (rows of those it cannot close are logged as cancelled), 0.5 s to close
# the gateway and engine, 2.5 s for the request log's last writes, and exits at the latest
# there: 3 + 6 = 9 s fits in those 10 s. For a longer grace raise both together, e.g. 20 s
# of grace within 30 s:
#   docker run --stop-timeout 30 -e BOT_SHUTDOWN_GRACE=20 ...   (or: docker stop -t 30)
#   docker compose: stop_grace_period: 30s
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BOT_MODELS_DIR=/app/exported_models \
    BOT_DB_PATH=/data/requests.db \
    BOT_HEARTBEAT_FILE=/tmp/bot-heartbeat \
    BOT_HEARTBEAT_INTERVAL=15 \
    BOT_SHUTDOWN_GRACE=3

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install ".[metrics,postgres]" \
    && useradd --create-home --uid 10001 bot \
    && mkdir -p /data \
    && chown bot:bot /data
COPY exported_models ./exported_models

USER bot
VOLUME ["/data"]

# Healthy while the bot's heartbeat file is fresh: it is touched only while the gateway
# connection is up, so a live process with a dead gateway turns unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 CMD \
    python -c "import os, sys, time; p = os.environ['BOT_HEARTBEAT_FILE']; \
age = time.time() - os.path.getmtime(p) if os.path.exists(p) else 1e9; \
sys.exit(0 if age < 3 * float(os.environ['BOT_HEARTBEAT_INTERVAL']) else 1)"

STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot", "run"]
