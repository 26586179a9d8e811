-- The request log: one row per slash command and per button press.
CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    created_at REAL NOT NULL,
    guild_id INTEGER,
    channel_id INTEGER,
    user_id INTEGER NOT NULL,
    command TEXT NOT NULL,
    model TEXT,
    params TEXT NOT NULL DEFAULT '{}',
    prompt TEXT,
    output TEXT,
    tokens INTEGER,
    first_token_s REAL,
    total_s REAL,
    status TEXT NOT NULL,
    error TEXT
);
