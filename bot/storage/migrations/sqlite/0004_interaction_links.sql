-- Reply buttons: a request is found by its interaction id (in the buttons' custom_id), and
-- a press is linked to the request whose reply it was under.
ALTER TABLE requests ADD COLUMN interaction_id INTEGER;
ALTER TABLE requests ADD COLUMN parent_id INTEGER;
CREATE INDEX requests_interaction ON requests (interaction_id);
