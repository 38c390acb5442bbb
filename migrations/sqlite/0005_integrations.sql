-- GitLab rules (a tag pattern of a project → a task from a template) and the mail outbox.
CREATE TABLE gitlab_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL,
    tag_pattern TEXT NOT NULL,
    template_id BIGINT NOT NULL,
    -- JSON object: parameter key → minijinja text rendered with the push (tag, project, …).
    args TEXT NOT NULL,
    hosts TEXT NOT NULL,
    schedule TEXT NOT NULL,
    -- Keyed digest of the X-Gitlab-Token secret; the secret itself is not kept.
    secret_digest TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    owner TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX gitlab_rules_project ON gitlab_rules(project);

-- Every notification, written before it is sent and kept after: pending → sent | failed.
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    task_id BIGINT,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox(status, next_attempt_at);
