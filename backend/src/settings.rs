//! Server settings: defaults, then `taskgate.toml`, then `TASKGATE_*` environment.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid {path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("invalid {name}: {message}")]
    Invalid { name: &'static str, message: String },
}

/// Everything the server reads from its configuration.
#[derive(Clone)]
pub struct Settings {
    pub bind: String,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub secret_key: Option<SecretString>,
    pub admin_password: Option<SecretString>,
    pub smtp_url: Option<SecretString>,
    pub public_url: Option<String>,
    /// Sender of notification mail (`TASKGATE_MAIL_FROM`).
    pub mail_from: String,
    /// Zone in which `YYYY-mm-dd HH:MM:SS` times without an offset are read.
    pub timezone: chrono_tz::Tz,
    pub session_ttl_secs: i64,
    pub max_body_bytes: usize,
    /// Failed logins allowed per user and address within `login_window_secs`.
    pub login_max_failures: u32,
    /// Failed logins allowed per client address, whatever the usernames, within the window.
    pub login_max_address_failures: u32,
    pub login_window_secs: u64,
    /// Password hashes (argon2) computed at once; more wait their turn, for a while.
    pub max_password_hashes: usize,
    /// This instance's name among those sharing a database (default: kept in data_dir/node.id).
    pub node_id: Option<String>,
    /// Hosts worked on at once across all running tasks of this instance.
    pub max_parallel_hosts: usize,
    /// SSH handshakes in progress at once: they cost CPU on both ends, and pacing them
    /// keeps a thousand-host run from timing its own connections out.
    pub max_handshakes: usize,
    /// How long connecting and logging in to a host may take.
    pub ssh_connect_timeout_secs: u64,
    /// Seconds between SSH keep-alives; a connection silent for about four is lost (and the
    /// step it ran is killed through a new one).
    pub ssh_keepalive_secs: u64,
    /// A run's lease: an instance that cannot renew it for this long stops its runs (and
    /// kills their steps); others take them over half as long again later.
    pub run_lease_secs: u64,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("database_url", &redact_url(&self.database_url))
            .field("data_dir", &self.data_dir)
            .field("public_url", &self.public_url)
            .field("timezone", &self.timezone)
            .finish_non_exhaustive()
    }
}

/// `postgres://user:pw@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &creds[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    bind: Option<String>,
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    secret_key: Option<String>,
    admin_password: Option<String>,
    smtp_url: Option<String>,
    public_url: Option<String>,
    mail_from: Option<String>,
    timezone: Option<String>,
    session_ttl_secs: Option<i64>,
    max_body_bytes: Option<usize>,
    login_max_failures: Option<u32>,
    login_max_address_failures: Option<u32>,
    login_window_secs: Option<u64>,
    max_password_hashes: Option<usize>,
    node_id: Option<String>,
    max_parallel_hosts: Option<usize>,
    max_handshakes: Option<usize>,
    ssh_connect_timeout_secs: Option<u64>,
    run_lease_secs: Option<u64>,
    ssh_keepalive_secs: Option<u64>,
}

impl Settings {
    /// Reads `path` (or `./taskgate.toml` when it exists) and the process environment.
    pub fn load(path: Option<&Path>) -> Result<Settings, SettingsError> {
        let default_path = Path::new("taskgate.toml");
        let path = path.or(default_path.exists().then_some(default_path));
        let file = match path {
            Some(p) => Some(
                std::fs::read_to_string(p).map_err(|source| SettingsError::Read { path: p.to_path_buf(), source })?,
            ),
            None => None,
        };
        Self::from_sources(file.as_deref(), path, |name| std::env::var(name).ok())
    }

    /// Builds settings from a file's text and an environment lookup (testable without globals).
    pub fn from_sources(
        file_text: Option<&str>,
        file_path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        let file: FileSettings = match file_text {
            Some(text) => toml::from_str(text).map_err(|e| SettingsError::Parse {
                path: file_path.map(Path::to_path_buf).unwrap_or_default(),
                source: Box::new(e),
            })?,
            None => FileSettings::default(),
        };
        let pick = |env_name: &str, from_file: Option<String>| env(env_name).filter(|v| !v.is_empty()).or(from_file);
        // A positive whole number from the environment; empty means unset.
        let number = |name: &'static str| -> Result<Option<i64>, SettingsError> {
            match env(name).filter(|t| !t.trim().is_empty()) {
                None => Ok(None),
                Some(t) => match t.trim().parse::<i64>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(SettingsError::Invalid { name, message: format!("{t:?} is not a positive number") }),
                },
            }
        };

        let data_dir = pick("TASKGATE_DATA_DIR", file.data_dir.map(|p| p.display().to_string()))
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("data"));
        let default_db = format!("sqlite://{}/taskgate.db", data_dir.display());
        let timezone_name = pick("TASKGATE_TIMEZONE", file.timezone).unwrap_or_else(|| "UTC".into());
        let timezone = timezone_name.parse().map_err(|_| SettingsError::Invalid {
            name: "TASKGATE_TIMEZONE",
            message: format!("{timezone_name:?} is not an IANA time zone such as Asia/Shanghai"),
        })?;
        let settings = Settings {
            bind: pick("TASKGATE_BIND", file.bind).unwrap_or_else(|| "127.0.0.1:8080".into()),
            database_url: pick("DATABASE_URL", file.database_url).unwrap_or(default_db),
            data_dir,
            secret_key: pick("TASKGATE_SECRET_KEY", file.secret_key).map(SecretString::from),
            admin_password: pick("TASKGATE_ADMIN_PASSWORD", file.admin_password).map(SecretString::from),
            smtp_url: pick("TASKGATE_SMTP_URL", file.smtp_url).map(SecretString::from),
            public_url: pick("TASKGATE_PUBLIC_URL", file.public_url),
            mail_from: pick("TASKGATE_MAIL_FROM", file.mail_from)
                .unwrap_or_else(|| "Taskgate <taskgate@localhost>".into()),
            timezone,
            session_ttl_secs: number("TASKGATE_SESSION_TTL_SECS")?.or(file.session_ttl_secs).unwrap_or(12 * 3600),
            max_body_bytes: number("TASKGATE_MAX_BODY_BYTES")?
                .map(|n| n as usize)
                .or(file.max_body_bytes)
                .unwrap_or(1024 * 1024),
            login_max_failures: number("TASKGATE_LOGIN_MAX_FAILURES")?
                .map(|n| n.min(u32::MAX as i64) as u32)
                .or(file.login_max_failures)
                .unwrap_or(10),
            login_max_address_failures: number("TASKGATE_LOGIN_MAX_ADDRESS_FAILURES")?
                .map(|n| n.min(u32::MAX as i64) as u32)
                .or(file.login_max_address_failures)
                .unwrap_or(50),
            login_window_secs: number("TASKGATE_LOGIN_WINDOW_SECS")?
                .map(|n| n as u64)
                .or(file.login_window_secs)
                .unwrap_or(300),
            max_password_hashes: number("TASKGATE_MAX_PASSWORD_HASHES")?
                .map(|n| n as usize)
                .or(file.max_password_hashes)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            node_id: pick("TASKGATE_NODE_ID", file.node_id),
            max_parallel_hosts: number("TASKGATE_MAX_PARALLEL_HOSTS")?
                .map(|n| n as usize)
                .or(file.max_parallel_hosts)
                .unwrap_or(2000),
            max_handshakes: number("TASKGATE_MAX_HANDSHAKES")?
                .map(|n| n as usize)
                .or(file.max_handshakes)
                .unwrap_or(64),
            ssh_connect_timeout_secs: number("TASKGATE_SSH_CONNECT_TIMEOUT_SECS")?
                .map(|n| n as u64)
                .or(file.ssh_connect_timeout_secs)
                .unwrap_or(10),
            ssh_keepalive_secs: number("TASKGATE_SSH_KEEPALIVE_SECS")?
                .map(|n| n as u64)
                .or(file.ssh_keepalive_secs)
                .unwrap_or(15),
            run_lease_secs: number("TASKGATE_RUN_LEASE_SECS")?.map(|n| n as u64).or(file.run_lease_secs).unwrap_or(30),
        };
        if settings.session_ttl_secs <= 0 {
            return Err(SettingsError::Invalid { name: "session_ttl_secs", message: "must be positive".into() });
        }
        for (name, value) in [
            ("max_body_bytes", settings.max_body_bytes as u64),
            ("login_max_failures", u64::from(settings.login_max_failures)),
            ("login_max_address_failures", u64::from(settings.login_max_address_failures)),
            ("login_window_secs", settings.login_window_secs),
            ("max_password_hashes", settings.max_password_hashes as u64),
            ("max_parallel_hosts", settings.max_parallel_hosts as u64),
            ("max_handshakes", settings.max_handshakes as u64),
            ("ssh_connect_timeout_secs", settings.ssh_connect_timeout_secs),
            ("run_lease_secs", settings.run_lease_secs),
            ("ssh_keepalive_secs", settings.ssh_keepalive_secs),
        ] {
            if value == 0 {
                return Err(SettingsError::Invalid { name, message: "must be positive".into() });
            }
        }
        // Durations a timer adds to "now": a day is more than any of them needs.
        for (name, value) in [
            ("ssh_connect_timeout_secs", settings.ssh_connect_timeout_secs),
            ("ssh_keepalive_secs", settings.ssh_keepalive_secs),
            ("run_lease_secs", settings.run_lease_secs),
        ] {
            if value > 86_400 {
                return Err(SettingsError::Invalid { name, message: "must be at most 86400 (a day)".into() });
            }
        }
        if let Some(secret) = &settings.secret_key {
            use secrecy::ExposeSecret;
            let name = if env("TASKGATE_SECRET_KEY").is_some_and(|v| !v.is_empty()) {
                "TASKGATE_SECRET_KEY"
            } else {
                "secret_key"
            };
            if let Err(problem) = crate::crypto::check_secret(secret.expose_secret()) {
                return Err(SettingsError::Invalid {
                    name,
                    message: format!("{problem}; generate one with `openssl rand -base64 32`"),
                });
            }
        }
        // Mail settings are checked now, not when the first notification would go out.
        if let Err(e) = settings.mail_from.parse::<lettre::message::Mailbox>() {
            return Err(SettingsError::Invalid { name: "mail_from", message: format!("is not a mail address: {e}") });
        }
        if let Some(url) = &settings.smtp_url {
            use secrecy::ExposeSecret;
            if let Err(e) = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url.expose_secret()) {
                return Err(SettingsError::Invalid {
                    name: "smtp_url",
                    message: format!("is not a usable SMTP URL: {e}"),
                });
            }
        }
        if !(settings.database_url.starts_with("sqlite:") || settings.database_url.starts_with("postgres")) {
            return Err(SettingsError::Invalid {
                name: "DATABASE_URL",
                message: "must start with sqlite:// or postgres://".into(),
            });
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_wins_over_the_file() {
        let file = "bind = \"0.0.0.0:9000\"\ntimezone = \"Asia/Shanghai\"\n";
        let s =
            Settings::from_sources(Some(file), None, |k| (k == "TASKGATE_BIND").then(|| "127.0.0.1:1".into())).unwrap();
        assert_eq!(s.bind, "127.0.0.1:1");
        assert_eq!(s.timezone, chrono_tz::Asia::Shanghai);
        assert_eq!(s.database_url, "sqlite://data/taskgate.db");
    }

    #[test]
    fn unknown_file_keys_and_bad_zones_are_refused() {
        assert!(Settings::from_sources(Some("bnd = 1"), None, |_| None).is_err());
        assert!(Settings::from_sources(None, None, |k| (k == "TASKGATE_TIMEZONE").then(|| "Mars/Base".into())).is_err());
    }

    #[test]
    fn numbers_must_be_positive_and_empty_means_unset() {
        let env = |k: &str| match k {
            "TASKGATE_MAX_BODY_BYTES" => Some("-1".to_string()),
            _ => None,
        };
        assert!(Settings::from_sources(None, None, env).is_err());
        let empty = |k: &str| (k == "TASKGATE_SESSION_TTL_SECS").then(String::new);
        assert_eq!(Settings::from_sources(None, None, empty).unwrap().session_ttl_secs, 12 * 3600);
        let limits = |k: &str| (k == "TASKGATE_LOGIN_MAX_FAILURES").then(|| "3".to_string());
        assert_eq!(Settings::from_sources(None, None, limits).unwrap().login_max_failures, 3);
    }

    #[test]
    fn mail_settings_are_checked_at_start() {
        let with = |name: &'static str, value: &'static str| move |k: &str| (k == name).then(|| value.to_string());
        let refused = |env| match Settings::from_sources(None, None, env) {
            Err(SettingsError::Invalid { name, .. }) => name,
            other => panic!("accepted: {other:?}"),
        };
        assert_eq!(refused(with("TASKGATE_MAIL_FROM", "not an address")), "mail_from");
        assert_eq!(refused(with("TASKGATE_SMTP_URL", "ftp://mail")), "smtp_url");
        assert!(Settings::from_sources(None, None, with("TASKGATE_SMTP_URL", "smtp://127.0.0.1:25")).is_ok());
    }

    #[test]
    fn short_secret_keys_are_refused_naming_where_they_came_from() {
        let refused = |file: Option<&str>, env: Option<&'static str>| match Settings::from_sources(file, None, |k| {
            (k == "TASKGATE_SECRET_KEY").then_some(env).flatten().map(String::from)
        }) {
            Err(SettingsError::Invalid { name, message }) => (name, message),
            other => panic!("accepted: {other:?}"),
        };
        let (name, message) = refused(None, Some("hunter2"));
        assert_eq!(name, "TASKGATE_SECRET_KEY");
        assert!(message.contains("too short"), "{message}");
        assert_eq!(refused(Some("secret_key = \"  \""), None).0, "secret_key");
        let long = "x".repeat(32);
        assert!(Settings::from_sources(None, None, |k| (k == "TASKGATE_SECRET_KEY").then(|| long.clone())).is_ok());
    }

    #[test]
    fn login_limits_have_defaults_and_must_be_positive() {
        let s = Settings::from_sources(None, None, |_| None).unwrap();
        assert_eq!((s.login_max_failures, s.login_max_address_failures), (10, 50));
        assert!(s.max_password_hashes >= 1);
        assert!(Settings::from_sources(Some("login_max_address_failures = 0"), None, |_| None).is_err());
        assert!(
            Settings::from_sources(None, None, |k| (k == "TASKGATE_MAX_PASSWORD_HASHES").then(|| "0".into())).is_err()
        );
    }

    #[test]
    fn database_password_is_redacted() {
        assert_eq!(redact_url("postgres://tg:hunter2@db:5432/tg"), "postgres://tg:***@db:5432/tg");
        assert_eq!(redact_url("sqlite://data/taskgate.db"), "sqlite://data/taskgate.db");
    }
}
