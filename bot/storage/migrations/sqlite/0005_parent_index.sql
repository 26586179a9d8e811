-- /forget-me follows presses down from the user's requests (rows that copied their text).
CREATE INDEX requests_parent ON requests (parent_id);
