//! The `taskgate` command: serve, migrate, and admin tasks for scripts.

use std::path::PathBuf;

use anyhow::Context;
use api_types::{Role, Scope, TokenCreate, UserCreate};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use taskgate::accounts::service::{create_user, mint_token, system_principal};
use taskgate::settings::Settings;
use taskgate::{open_db, open_state, store, SecretKey, UiSource};

#[derive(Parser)]
#[command(name = "taskgate", version, about = "Self-hosted operations task platform")]
struct Cli {
    /// Configuration file (default: ./taskgate.toml when present). Environment wins over it.
    #[arg(long, global = true, env = "TASKGATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (API, UI, scheduler) until SIGTERM or Ctrl-C.
    Serve {
        /// Serve the web UI from this directory (laid out like static/) instead of the
        /// copy built into the binary: for developing the UI.
        #[arg(long, env = "TASKGATE_STATIC_DIR")]
        static_dir: Option<PathBuf>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the OpenAPI document.
    ExportOpenapi,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user. The password comes from --password or TASKGATE_NEW_PASSWORD.
    Add {
        username: String,
        #[arg(long, default_value = "operator", value_parser = parse_role)]
        role: Role,
        #[arg(long, env = "TASKGATE_NEW_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long)]
        email: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token for a user and print it (shown once).
    Create {
        /// Owner of the token.
        #[arg(long)]
        user: String,
        /// A name to recognise it by.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: read, task:submit, task:approve, admin (default: all the role allows).
        #[arg(long, value_delimiter = ',', value_parser = parse_scope)]
        scopes: Vec<Scope>,
        /// Lifetime in days (default: no expiry).
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "use admin, approver, operator or viewer".into())
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    Scope::parse(s).ok_or_else(|| "use read, task:submit, task:approve or admin".into())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("TASKGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve { static_dir } => serve(settings, static_dir.map_or(UiSource::Embedded, UiSource::Dir)).await,
        Command::Migrate => {
            open_db(&settings).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::User { command: UserCommand::Add { username, role, password, email } } => {
            let state = open_state(settings, SecretKey::CreateIfMissing).await?;
            let input = UserCreate { username, password, role, display_name: None, email, groups: vec![] };
            let user = create_user(&state, &system_principal(), input).await?;
            println!("created user {} ({}) with id {}", user.username, user.role.as_str(), user.id);
            Ok(())
        }
        Command::Token { command: TokenCommand::Create { user, name, scopes, expires_in_days } } => {
            let state = open_state(settings, SecretKey::MustExist).await?;
            let owner =
                store::users::by_username(&state.db, &user).await.with_context(|| format!("no user {user:?}"))?;
            let scopes = (!scopes.is_empty()).then_some(scopes);
            let created =
                mint_token(&state, &system_principal(), &owner, TokenCreate { name, scopes, expires_in_days }).await?;
            println!("{}", created.token);
            eprintln!("token {} for {} created; it is shown only this once", created.info.id, user);
            Ok(())
        }
        Command::ExportOpenapi => {
            let raw = taskgate::routes::openapi_service("/").spec();
            let doc: serde_json::Value = serde_json::from_str(taskgate::http::spec::Spec::new(&raw).document())?;
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(())
        }
    }
}

async fn serve(settings: Settings, ui: UiSource) -> anyhow::Result<()> {
    let running = taskgate::start(settings, ui).await?;
    let stop = running.stopper();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop.send(true);
    });
    running.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
