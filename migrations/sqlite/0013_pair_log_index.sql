-- One pair's log lines, forwards and backwards, without scanning the whole task's events:
-- the log viewer pages a pair's older lines and downloads it (a task of 5,000 hosts holds
-- tens of thousands of events, a pair a few of them).
CREATE INDEX task_events_pair ON task_events(task_id, host, step_index, task_seq);
