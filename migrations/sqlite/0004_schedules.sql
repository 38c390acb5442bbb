-- Recurring schedules: a cron expression that creates a task each time it fires, and a
-- record of every fire (made, skipped, missed) keyed so that each fires once.
CREATE TABLE schedules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    template_id BIGINT NOT NULL,
    args_enc TEXT NOT NULL,
    hosts TEXT NOT NULL,
    schedule TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    missed_policy TEXT NOT NULL,
    owner TEXT NOT NULL,
    last_fire_at BIGINT,
    -- Fires up to this time have been accounted for (made, or recorded as missed).
    checked_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE schedule_fires (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id BIGINT NOT NULL,
    scheduled_for BIGINT NOT NULL,
    fired_at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    task_id BIGINT,
    message TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX schedule_fires_once ON schedule_fires(schedule_id, scheduled_for);
