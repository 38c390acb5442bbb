//! Login, users and API tokens: the rules; persistence lives in `store::users`.

use api_types::{
    validate, LoginRequest, LoginResponse, Message, Role, Scope, Ticket, TicketRequest, TokenCreate, TokenCreated,
    TokenInfo, User, UserCreate, UserUpdate,
};
use secrecy::ExposeSecret;
use serde_json::json;

use super::{limiter, tokens, Principal};
use crate::audit;
use crate::crypto;
use crate::error::{NotFoundExt, ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store::{self, now_ms, rfc3339, to_json, users::UserRow, StoreError};

/// A principal for work the server does on its own behalf (bootstrap, CLI).
pub fn system_principal() -> Principal {
    Principal {
        user_id: 0,
        username: "system".into(),
        role: Role::Admin,
        groups: vec![],
        scopes: None,
        token_id: None,
        session_epoch: None,
        expires_at: None,
        remote_addr: "local".into(),
    }
}

/// A principal for work done on a user's behalf without a request from them (a schedule
/// firing, a GitLab push): refused when the user is gone or disabled.
pub async fn acting_as(state: &AppState, username: &str, what: &str, origin: &str) -> ServiceResult<Principal> {
    let user = store::users::by_username(&state.db, username).await.map_err(|_| {
        ServiceError::Forbidden(
            Message::new("the {what}'s owner {user} no longer exists").arg("what", what).arg("user", username),
        )
    })?;
    if user.disabled != 0 {
        return Err(ServiceError::Forbidden(
            Message::new("the {what}'s owner {user} is disabled").arg("what", what).arg("user", username),
        ));
    }
    Ok(Principal {
        user_id: user.id,
        username: user.username.clone(),
        role: user.role()?,
        groups: user.groups()?,
        scopes: None,
        token_id: None,
        session_epoch: None,
        expires_at: None,
        remote_addr: origin.into(),
    })
}

/// Checks a username and password. Each attempt is counted as a failure before the
/// password is checked (and taken back when it succeeds), so that concurrent attempts
/// cannot pass the limits.
pub async fn login(state: &AppState, req: LoginRequest, remote_addr: &str) -> ServiceResult<LoginResponse> {
    let limiter = &state.login_limiter;
    if let Err(retry_after_secs) = limiter.reserve(&req.username, remote_addr) {
        return Err(ServiceError::RateLimited { retry_after_secs });
    }
    match check_password(state, &req).await {
        Ok(user) => {
            limiter.succeeded(&req.username, remote_addr);
            let (token, expires_at) = tokens::issue_session(&state.keys, &user, state.settings.session_ttl_secs);
            Ok(LoginResponse { token, expires_at: rfc3339(expires_at), user: user.to_api()? })
        }
        Err(e @ ServiceError::Unauthorized(_)) => {
            let username = limiter::username_key(&req.username);
            tracing::info!(username = ?username, remote_addr = ?remote_addr, "failed login");
            Err(e)
        }
        Err(e) => {
            limiter.refund(&req.username, remote_addr);
            Err(e)
        }
    }
}

/// Changing one's own password takes the current one, counted against the login limits
/// like a login (a stolen session must not guess it faster than a login would).
async fn check_current_password(
    state: &AppState,
    who: &Principal,
    row: &UserRow,
    given: Option<&str>,
) -> ServiceResult<()> {
    let Some(given) = given else {
        return Err(ServiceError::validation("current_password", "is required to change your own password"));
    };
    let limiter = &state.login_limiter;
    if let Err(retry_after_secs) = limiter.reserve(&row.username, &who.remote_addr) {
        return Err(ServiceError::RateLimited { retry_after_secs });
    }
    match state.passwords.verify(given, &row.password_hash).await {
        Ok(true) => {
            limiter.succeeded(&row.username, &who.remote_addr);
            Ok(())
        }
        Ok(false) => {
            tracing::info!(username = ?row.username, remote_addr = ?who.remote_addr, "wrong current password");
            Err(ServiceError::validation("current_password", "is not your current password"))
        }
        Err(e) => {
            limiter.refund(&row.username, &who.remote_addr);
            Err(e)
        }
    }
}

/// The enabled user with this username and password, else `Unauthorized`.
async fn check_password(state: &AppState, req: &LoginRequest) -> ServiceResult<UserRow> {
    let user = match store::users::by_username(&state.db, &req.username).await {
        Ok(u) => Some(u),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    // Verify against a fixed hash when the user is unknown, so that timing does not
    // reveal which usernames exist.
    let hash = match &user {
        Some(u) => u.password_hash.as_str(),
        None => state.passwords.dummy_hash().await?,
    };
    let password_ok = state.passwords.verify(&req.password, hash).await?;
    match user {
        Some(u) if password_ok && u.disabled == 0 => Ok(u),
        _ => Err(ServiceError::Unauthorized("wrong username or password".into())),
    }
}

/// A ticket for one path, taken with the caller's session or API token (see
/// [`tokens::issue_ticket`]).
pub fn ticket(state: &AppState, who: &Principal, req: TicketRequest) -> ServiceResult<Ticket> {
    who.require(Scope::Read)?;
    validate::ticket_path("path", &req.path)?;
    if who.token_id.is_none() && who.session_epoch.is_none() {
        return Err(ServiceError::Forbidden("only a session or an API token takes tickets".into()));
    }
    let (ticket, expires_at) = tokens::issue_ticket(&state.keys, who, &req.path);
    Ok(Ticket { ticket, expires_at: rfc3339(expires_at) })
}

pub async fn me(state: &AppState, who: &Principal) -> ServiceResult<User> {
    Ok(store::users::get(&state.db, who.user_id).await.or_not_found("user", who.user_id)?.to_api()?)
}

pub async fn list_users(state: &AppState, who: &Principal) -> ServiceResult<Vec<User>> {
    who.require(Scope::Admin)?;
    store::users::list(&state.db).await?.iter().map(|u| Ok(u.to_api()?)).collect()
}

pub async fn get_user(state: &AppState, who: &Principal, id: i64) -> ServiceResult<User> {
    if id != who.user_id {
        who.require(Scope::Admin)?;
    }
    Ok(store::users::get(&state.db, id).await.or_not_found("user", id)?.to_api()?)
}

fn check_groups(groups: &[String]) -> ServiceResult<()> {
    for (i, g) in groups.iter().enumerate() {
        validate::name(&format!("groups[{i}]"), g)?;
    }
    Ok(())
}

fn check_email(email: &str) -> ServiceResult<()> {
    Ok(validate::email("email", email)?)
}

pub async fn create_user(state: &AppState, who: &Principal, input: UserCreate) -> ServiceResult<User> {
    who.require(Scope::Admin)?;
    validate::username("username", &input.username)?;
    validate::password("password", &input.password)?;
    let display_name = input.display_name.unwrap_or_else(|| input.username.clone());
    validate::name("display_name", &display_name)?;
    let email = input.email.unwrap_or_default();
    check_email(&email)?;
    check_groups(&input.groups)?;
    let hash = state.passwords.hash(&input.password).await?;
    let mut tx = state.db.begin_write().await?;
    let id = store::users::insert(
        &mut tx,
        store::users::NewUser {
            username: &input.username,
            display_name: &display_name,
            email: &email,
            password_hash: &hash,
            role: input.role,
            groups: &input.groups,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        who,
        "user.create",
        "user",
        id,
        json!({"username": input.username, "role": input.role.as_str()}),
    )
    .await?;
    tx.commit().await?;
    get_user(state, who, id).await
}

/// Admins change anything; users change their own password, name and email.
pub async fn update_user(state: &AppState, who: &Principal, id: i64, input: UserUpdate) -> ServiceResult<User> {
    let touches_privileges = input.role.is_some() || input.groups.is_some() || input.disabled.is_some();
    if id != who.user_id || touches_privileges {
        who.require(Scope::Admin)?;
    } else {
        who.require(Scope::Read)?;
    }
    if input.password.is_some() && who.token_id.is_some() {
        return Err(ServiceError::Forbidden(
            "passwords are changed from a login session, not with an API token".into(),
        ));
    }
    if id == who.user_id && (input.disabled == Some(true) || input.role.is_some_and(|r| r != who.role)) {
        return Err(ServiceError::Conflict("you cannot disable yourself or change your own role".into()));
    }
    let mut row: UserRow = store::users::get(&state.db, id).await.or_not_found("user", id)?;
    let mut changed = Vec::new();
    // A new password, a new role or a disable ends the user's sessions (their API tokens
    // stay: a disabled user's are refused while disabled, a role caps its tokens' scopes).
    let mut end_sessions = false;
    if let Some(p) = &input.password {
        validate::password("password", p)?;
        if id == who.user_id {
            check_current_password(state, who, &row, input.current_password.as_deref()).await?;
        }
        row.password_hash = state.passwords.hash(p).await?;
        changed.push("password");
        end_sessions = true;
    }
    if let Some(r) = input.role {
        end_sessions |= r.as_str() != row.role;
        row.role = r.as_str().to_string();
        changed.push("role");
    }
    if let Some(d) = input.display_name {
        validate::name("display_name", &d)?;
        row.display_name = d;
        changed.push("display_name");
    }
    if let Some(e) = input.email {
        check_email(&e)?;
        row.email = e;
        changed.push("email");
    }
    if let Some(g) = input.groups {
        check_groups(&g)?;
        row.user_groups = to_json(&g);
        changed.push("groups");
    }
    if let Some(d) = input.disabled {
        end_sessions |= d;
        row.disabled = i64::from(d);
        changed.push("disabled");
    }
    let mut tx = state.db.begin_write().await?;
    store::users::update(&mut tx, &row, end_sessions).await.or_not_found("user", id)?;
    audit::record(&mut tx, who, "user.update", "user", id, json!({"username": row.username, "changed": changed}))
        .await?;
    tx.commit().await?;
    get_user(state, who, id).await
}

/// Creates the first admin when there is no user at all. Returns the generated password
/// when none was configured, so that it can be shown once.
pub async fn bootstrap_admin(state: &AppState) -> ServiceResult<Option<String>> {
    if store::users::count(&state.db).await? > 0 {
        return Ok(None);
    }
    let (password, generated) = match &state.settings.admin_password {
        Some(p) => (p.expose_secret().to_string(), false),
        None => (crypto::random_token(12), true),
    };
    let input = UserCreate {
        username: "admin".into(),
        password: password.clone(),
        role: Role::Admin,
        display_name: Some("Administrator".into()),
        email: None,
        groups: vec![],
    };
    match create_user(state, &system_principal(), input).await {
        Ok(_) => Ok(generated.then_some(password)),
        // Another instance sharing the database created it first.
        Err(ServiceError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn create_token(state: &AppState, who: &Principal, input: TokenCreate) -> ServiceResult<TokenCreated> {
    who.require(Scope::Read)?;
    if who.token_id.is_some() && !who.is_admin() {
        return Err(ServiceError::Forbidden("API tokens cannot create tokens; log in to create one".into()));
    }
    let owner = store::users::get(&state.db, who.user_id).await.or_not_found("user", who.user_id)?;
    mint_token(state, who, &owner, input).await
}

/// Creates a token owned by `owner`; `who` is recorded as the actor.
pub async fn mint_token(
    state: &AppState,
    who: &Principal,
    owner: &UserRow,
    input: TokenCreate,
) -> ServiceResult<TokenCreated> {
    validate::name("name", &input.name)?;
    let role = owner.role()?;
    // A token never hands out more than it holds: a token caller's scopes cap the new
    // token's, and are its default.
    let caller_holds = |s: &Scope| who.scopes.as_ref().is_none_or(|held| held.contains(s));
    let scopes: Vec<Scope> = match input.scopes {
        Some(s) if s.is_empty() => return Err(ServiceError::validation("scopes", "must name at least one scope")),
        Some(mut s) => {
            s.sort();
            s.dedup();
            s
        }
        None => Scope::ALL.into_iter().filter(|s| role >= s.min_role() && caller_holds(s)).collect(),
    };
    if let Some(s) = scopes.iter().find(|s| role < s.min_role()) {
        return Err(ServiceError::validation(
            "scopes",
            Message::new("{scope} needs the {needed} role; {user} is {role}")
                .arg("scope", s.as_str())
                .arg("needed", s.min_role().as_str())
                .arg("user", &owner.username)
                .arg("role", role.as_str()),
        ));
    }
    if let Some(s) = scopes.iter().find(|s| !caller_holds(s)) {
        return Err(ServiceError::validation(
            "scopes",
            Message::new("{scope} is not among the scopes of the token making this request").arg("scope", s.as_str()),
        ));
    }
    if scopes.is_empty() {
        return Err(ServiceError::validation("scopes", "the calling token holds no scope the owner's role allows"));
    }
    let expires_at = match input.expires_in_days {
        Some(d) if !(1..=3650).contains(&d) => {
            return Err(ServiceError::validation("expires_in_days", "must be between 1 and 3650"))
        }
        Some(d) => Some(now_ms() + d * 86_400_000),
        None => None,
    };
    let id = uuid::Uuid::new_v4().to_string();
    let mut tx = state.db.begin_write().await?;
    store::users::insert_token(&mut tx, &id, owner.id, &input.name, &scopes, expires_at).await?;
    audit::record(&mut tx, who, "token.create", "token", &id, json!({"name": input.name, "owner": owner.username}))
        .await?;
    tx.commit().await?;
    let token = tokens::issue_api_token(&state.keys, owner.id, &id, expires_at);
    let info = store::users::get_token(&state.db, &id).await?.to_api()?;
    Ok(TokenCreated { token, info })
}

/// The caller's tokens; admins may ask for everyone's.
pub async fn list_tokens(state: &AppState, who: &Principal, everyone: bool) -> ServiceResult<Vec<TokenInfo>> {
    who.require(Scope::Read)?;
    if everyone {
        who.require(Scope::Admin)?;
    }
    let rows = store::users::list_tokens(&state.db, (!everyone).then_some(who.user_id)).await?;
    rows.iter().map(|r| Ok(r.to_api()?)).collect()
}

pub async fn revoke_token(state: &AppState, who: &Principal, id: &str) -> ServiceResult<TokenInfo> {
    who.require(Scope::Read)?;
    let row = store::users::get_token(&state.db, id).await.or_not_found("token", id)?;
    if row.user_id != who.user_id && !who.is_admin() {
        // Do not reveal that someone else's token exists.
        return Err(ServiceError::not_found("token", id));
    }
    let mut tx = state.db.begin_write().await?;
    store::users::revoke_token(&mut tx, id).await?;
    audit::record(&mut tx, who, "token.revoke", "token", id, json!({"name": row.name, "owner": row.username})).await?;
    tx.commit().await?;
    Ok(store::users::get_token(&state.db, id).await?.to_api()?)
}
