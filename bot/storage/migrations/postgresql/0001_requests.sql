-- The request log: one row per slash command and per button press; the same columns and
-- indexes as SQLite's schema version 5. Discord ids fit in a BIGINT (63-bit snowflakes).
CREATE TABLE requests (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at DOUBLE PRECISION NOT NULL,
    guild_id BIGINT,
    channel_id BIGINT,
    user_id BIGINT NOT NULL,
    command TEXT NOT NULL,
    model TEXT,
    params TEXT NOT NULL DEFAULT '{}',
    prompt TEXT,
    output TEXT,
    tokens BIGINT,
    first_token_s DOUBLE PRECISION,
    total_s DOUBLE PRECISION,
    status TEXT NOT NULL,
    error TEXT,
    interaction_id BIGINT,
    parent_id BIGINT
);
-- /stats: each scope (a server, a user, everything) can be answered from an index
-- (index-only scans once the visibility map is set by VACUUM).
CREATE INDEX requests_created_at
    ON requests (created_at, command, status, user_id, total_s, first_token_s);
CREATE INDEX requests_user
    ON requests (user_id, created_at, command, status, guild_id, total_s, first_token_s);
CREATE INDEX requests_guild
    ON requests (guild_id, created_at, command, status, user_id, total_s, first_token_s);
CREATE INDEX requests_guild_total ON requests (guild_id, status, total_s, created_at);
CREATE INDEX requests_guild_first ON requests (guild_id, status, first_token_s, created_at);
-- reply buttons and /forget-me's walk down the presses
CREATE INDEX requests_interaction ON requests (interaction_id);
CREATE INDEX requests_parent ON requests (parent_id);
