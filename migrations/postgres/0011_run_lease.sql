-- A run's lease: the owner (`claimed_by`) may write the run's state, log and end only
-- while the task is at its attempt, and others take a run over only after `lease_until`
-- (the owner's clock, in ms since the epoch) has passed by a grace period.
ALTER TABLE tasks ADD COLUMN lease_until BIGINT;
UPDATE tasks SET lease_until = heartbeat_at WHERE status = 'running';
