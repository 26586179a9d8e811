CREATE INDEX requests_created_at ON requests (created_at);
CREATE INDEX requests_user ON requests (user_id, created_at);
