-- /stats: each scope (a server, a user, everything) reads a covering index, never the
-- table; the latency percentiles of a server walk an index in latency order.
DROP INDEX requests_created_at;
CREATE INDEX requests_created_at
    ON requests (created_at, command, status, user_id, total_s, first_token_s);
DROP INDEX requests_user;
CREATE INDEX requests_user
    ON requests (user_id, created_at, command, status, guild_id, total_s, first_token_s);
CREATE INDEX requests_guild
    ON requests (guild_id, created_at, command, status, user_id, total_s, first_token_s);
CREATE INDEX requests_guild_total ON requests (guild_id, status, total_s, created_at);
CREATE INDEX requests_guild_first ON requests (guild_id, status, first_token_s, created_at);
