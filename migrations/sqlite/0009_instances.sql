-- The instances that share this database, with when each last wrote (its liveness and
-- the write probe behind /healthz).
CREATE TABLE instances (
    node_id TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);
