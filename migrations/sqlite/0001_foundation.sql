-- Foundation: accounts, tokens, catalogue, tasks, approvals, audit.
-- Times are Unix milliseconds (BIGINT); lists and maps are JSON text. Same shape as postgres/.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    user_groups TEXT NOT NULL DEFAULT '[]',
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    interpreter TEXT NOT NULL,
    timeout_secs BIGINT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE aliases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    param_key TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    param_type TEXT NOT NULL,
    default_value TEXT,
    required BIGINT NOT NULL,
    pattern TEXT,
    min_value BIGINT,
    max_value BIGINT,
    choices TEXT NOT NULL DEFAULT '[]',
    secret BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    approver_group TEXT,
    approval_timeout_secs BIGINT,
    extra_params TEXT NOT NULL DEFAULT '[]',
    raw_params BIGINT NOT NULL DEFAULT 0,
    strategy TEXT NOT NULL,
    canary_size BIGINT NOT NULL,
    steps TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE credentials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    username TEXT,
    description TEXT NOT NULL DEFAULT '',
    secret_enc TEXT NOT NULL,
    passphrase_enc TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE hosts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    port BIGINT NOT NULL,
    login_user TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '[]',
    credential_id BIGINT REFERENCES credentials(id),
    host_key_fingerprint TEXT,
    trust_on_first_use BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    template_id BIGINT NOT NULL,
    template_name TEXT NOT NULL,
    template_snapshot TEXT NOT NULL,
    args TEXT NOT NULL,
    hosts TEXT NOT NULL,
    submitter TEXT NOT NULL,
    executor TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '',
    associated_users TEXT NOT NULL DEFAULT '[]',
    schedule TEXT NOT NULL,
    exec_time BIGINT NOT NULL,
    status TEXT NOT NULL,
    concurrency BIGINT NOT NULL,
    source TEXT NOT NULL,
    approval_id BIGINT,
    approval_deadline BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tasks_status_exec_time ON tasks(status, exec_time);
CREATE INDEX tasks_template ON tasks(template_id);
CREATE INDEX tasks_submitter ON tasks(submitter);

CREATE TABLE task_approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id BIGINT NOT NULL REFERENCES tasks(id),
    decision TEXT NOT NULL,
    actor TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    digest TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX task_approvals_task ON task_approvals(task_id);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    remote_addr TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_object ON audit_events(object_type, object_id);

CREATE TABLE codo_csrf_keys (
    csrf_key TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE server_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
