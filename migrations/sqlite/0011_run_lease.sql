-- A run's lease: the owner (`claimed_by`) may write the run's state, log and end only
-- while the task is at its attempt, and others take a run over only after `lease_until`
-- (the owner's clock, in ms since the epoch) has passed by a grace period.
ALTER TABLE tasks ADD COLUMN lease_until BIGINT;
UPDATE tasks SET lease_until = heartbeat_at WHERE status = 'running';
-- What tells a step's process group from a later process with the same id: the boot it
-- ran in and its leader's start time (see executor/kill.rs).
ALTER TABLE task_pairs ADD COLUMN pgid_boot TEXT;
ALTER TABLE task_pairs ADD COLUMN pgid_start BIGINT;
-- Steps of taken-over runs whose kill is not recorded yet (the instance reaping them
-- stopped): swept by every instance.
CREATE INDEX task_pairs_unreaped ON task_pairs(finished_at)
    WHERE status = 'aborted' AND pgid IS NOT NULL AND kill_confirmed IS NULL;
