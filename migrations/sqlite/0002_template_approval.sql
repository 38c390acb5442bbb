-- Templates may insist on approval: tasks of such a template cannot be submitted `ready`.
ALTER TABLE templates ADD COLUMN require_approval BIGINT NOT NULL DEFAULT 0;
