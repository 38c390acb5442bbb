-- The live list of all tasks asks for those changed since a moment, every second.
CREATE INDEX tasks_updated ON tasks(updated_at);
