-- Each task's events get a gap-free number in commit order: a writer takes the next
-- numbers from the task's counter (`tasks.event_seq`), which holds the task's row until
-- it commits, so a stream that follows `task_seq > cursor` never skips an event that
-- commits later with a lower number (PostgreSQL sequences commit out of order).
ALTER TABLE tasks ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_events ADD COLUMN task_seq BIGINT;
UPDATE task_events SET task_seq = numbered.seq
FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY task_id ORDER BY id) AS seq FROM task_events) AS numbered
WHERE task_events.id = numbered.id;
UPDATE tasks SET event_seq = COALESCE((SELECT MAX(task_seq) FROM task_events WHERE task_events.task_id = tasks.id), 0);
CREATE UNIQUE INDEX task_events_seq ON task_events(task_id, task_seq);
