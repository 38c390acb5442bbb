-- What tells a step's process group from a later process with the same id: the boot it
-- ran in and its leader's start time (see executor/kill.rs).
ALTER TABLE task_pairs ADD COLUMN pgid_boot TEXT;
ALTER TABLE task_pairs ADD COLUMN pgid_start BIGINT;
-- 1 while the steps of a taken-over run still have to be killed; an instance that kills
-- them first claims the pair (reap = the claim's time, ms), then sets 0 with what it saw; a
-- claim older than five minutes (its instance died) may be taken again.
ALTER TABLE task_pairs ADD COLUMN reap BIGINT NOT NULL DEFAULT 0;
CREATE INDEX task_pairs_reap ON task_pairs(reap) WHERE reap <> 0;
