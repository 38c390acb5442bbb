-- Running tasks: claim and heartbeat, the (step, host) pairs of each attempt, and one
-- ordered stream of events per task (log lines and status changes) that SSE resumes from.
ALTER TABLE tasks ADD COLUMN due_at BIGINT;
ALTER TABLE tasks ADD COLUMN attempt BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN started_at BIGINT;
ALTER TABLE tasks ADD COLUMN finished_at BIGINT;
ALTER TABLE tasks ADD COLUMN claimed_by TEXT;
ALTER TABLE tasks ADD COLUMN heartbeat_at BIGINT;
ALTER TABLE tasks ADD COLUMN abort_requested BIGINT NOT NULL DEFAULT 0;
UPDATE tasks SET due_at = exec_time;
CREATE INDEX tasks_status_due ON tasks(status, due_at);

CREATE TABLE task_pairs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id BIGINT NOT NULL REFERENCES tasks(id),
    attempt BIGINT NOT NULL,
    step_index BIGINT NOT NULL,
    step_name TEXT NOT NULL,
    grp TEXT NOT NULL,
    host TEXT NOT NULL,
    status TEXT NOT NULL,
    tries BIGINT NOT NULL DEFAULT 0,
    exit_code BIGINT,
    started_at BIGINT,
    finished_at BIGINT,
    message TEXT NOT NULL DEFAULT '',
    pgid BIGINT,
    kill_confirmed BIGINT,
    released BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX task_pairs_key ON task_pairs(task_id, attempt, step_index, host);

CREATE TABLE task_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    step_index BIGINT NOT NULL,
    host TEXT NOT NULL,
    kind TEXT NOT NULL,
    stream TEXT NOT NULL,
    seq BIGINT NOT NULL,
    body TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX task_events_task ON task_events(task_id, id);
