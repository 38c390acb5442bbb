-- Everyone who changed a task's contents after it was submitted. None of them may
-- approve it (four eyes), unless the self-approval policy is on.
CREATE TABLE task_editors (
    task_id BIGINT NOT NULL REFERENCES tasks(id),
    username TEXT NOT NULL,
    first_edit_at BIGINT NOT NULL,
    PRIMARY KEY (task_id, username)
);
