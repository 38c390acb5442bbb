//! HTTP routes: thin handlers that authenticate, call a service and return its answer.

pub mod accounts;
pub mod audit;
pub mod catalogue;
pub mod integrations;
pub mod schedules;
pub mod system;
pub mod tasks;

use poem_openapi::payload::Json;
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, OpenApiService, Tags};

#[derive(Tags)]
pub enum ApiTags {
    /// Logging in, users and API tokens.
    Accounts,
    /// Shell commands with placeholders.
    Commands,
    /// How each parameter is labelled, defaulted and checked.
    Aliases,
    /// Ordered steps on numbered host groups.
    Templates,
    /// Target hosts.
    Hosts,
    /// SSH keys and passwords (write-only).
    Credentials,
    /// Submitting, approving and following tasks.
    Tasks,
    /// Recurring schedules that submit tasks.
    Schedules,
    /// GitLab rules and webhook, mail notifications.
    Integrations,
    /// Who changed what.
    Audit,
    /// Server rules and health.
    System,
}

/// 201 with the created object.
#[derive(ApiResponse)]
pub enum Created<T: ToJSON + Type + Send> {
    #[oai(status = 201)]
    Created(Json<T>),
}

/// 204: done, nothing to return.
#[derive(ApiResponse)]
pub enum NoContent {
    #[oai(status = 204)]
    Done,
}

pub type Apis = (
    accounts::AccountsApi,
    catalogue::CommandsApi,
    catalogue::AliasesApi,
    catalogue::TemplatesApi,
    catalogue::HostsApi,
    catalogue::CredentialsApi,
    tasks::TasksApi,
    schedules::SchedulesApi,
    integrations::IntegrationsApi,
    audit::AuditApi,
    system::SystemApi,
);

pub fn openapi_service(server_url: &str) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            accounts::AccountsApi,
            catalogue::CommandsApi,
            catalogue::AliasesApi,
            catalogue::TemplatesApi,
            catalogue::HostsApi,
            catalogue::CredentialsApi,
            tasks::TasksApi,
            schedules::SchedulesApi,
            integrations::IntegrationsApi,
            audit::AuditApi,
            system::SystemApi,
        ),
        "Taskgate",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Self-hosted operations tasks: templates, approvals, scheduling and SSH execution.")
    .server(server_url)
}
