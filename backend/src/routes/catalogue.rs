//! CRUD for the five catalogue kinds. They share one shape, so one macro writes them;
//! the rules live in `catalogue::<kind>`.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::{ApiTags, Created, NoContent};
use crate::catalogue;
use crate::http::auth::BearerAuth;
use crate::http::error::ApiResult;
use crate::http::payload::JsonBody;
use crate::state::AppState;

macro_rules! catalogue_api {
    (
        $api:ident, $path:literal, $tag:literal, $service:ident, $item:ty, $input:ty,
        list: $list_op:literal, $list_doc:literal,
        create: $create_op:literal, $create_doc:literal,
        get: $get_op:literal,
        update: $update_op:literal,
        delete: $delete_op:literal, $delete_doc:literal
    ) => {
        pub struct $api;

        #[OpenApi(prefix_path = $path, tag = $tag)]
        impl $api {
            #[doc = $list_doc]
            #[oai(path = "/", method = "get", operation_id = $list_op)]
            async fn list(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<Json<Vec<$item>>> {
                Ok(Json(catalogue::$service::list(&state, &auth.0).await?))
            }

            #[doc = $create_doc]
            #[oai(path = "/", method = "post", operation_id = $create_op)]
            async fn create(
                &self,
                state: Data<&AppState>,
                auth: BearerAuth,
                body: JsonBody<$input>,
            ) -> ApiResult<Created<$item>> {
                Ok(Created::Created(Json(catalogue::$service::save(&state, &auth.0, None, body.0).await?)))
            }

            /// One by id.
            #[oai(path = "/:id", method = "get", operation_id = $get_op)]
            async fn get(&self, state: Data<&AppState>, auth: BearerAuth, id: Path<i64>) -> ApiResult<Json<$item>> {
                Ok(Json(catalogue::$service::get(&state, &auth.0, id.0).await?))
            }

            /// Replace (admin): every field as in create.
            #[oai(path = "/:id", method = "put", operation_id = $update_op)]
            async fn update(
                &self,
                state: Data<&AppState>,
                auth: BearerAuth,
                id: Path<i64>,
                body: JsonBody<$input>,
            ) -> ApiResult<Json<$item>> {
                Ok(Json(catalogue::$service::save(&state, &auth.0, Some(id.0), body.0).await?))
            }

            #[doc = $delete_doc]
            #[oai(path = "/:id", method = "delete", operation_id = $delete_op)]
            async fn delete(&self, state: Data<&AppState>, auth: BearerAuth, id: Path<i64>) -> ApiResult<NoContent> {
                catalogue::$service::delete(&state, &auth.0, id.0).await?;
                Ok(NoContent::Done)
            }
        }
    };
}

catalogue_api!(
    CommandsApi, "/api/v1/commands", "ApiTags::Commands", commands, api_types::Command, api_types::CommandInput,
    list: "list_commands", "Every command, by name.",
    create: "create_command", "Create a command (admin). The body must parse as a minijinja template.",
    get: "get_command",
    update: "update_command",
    delete: "delete_command", "Delete a command (admin); refused while a template uses it."
);

catalogue_api!(
    AliasesApi, "/api/v1/aliases", "ApiTags::Aliases", aliases, api_types::Alias, api_types::AliasInput,
    list: "list_aliases", "Every parameter alias, by key.",
    create: "create_alias", "Create a parameter alias (admin).",
    get: "get_alias",
    update: "update_alias",
    delete: "delete_alias", "Delete an alias (admin); its key becomes a plain required parameter."
);

catalogue_api!(
    TemplatesApi, "/api/v1/templates", "ApiTags::Templates", templates, api_types::Template, api_types::TemplateInput,
    list: "list_templates", "Every template, by name, with its groups and parameters.",
    create: "create_template", "Create a template (admin).",
    get: "get_template",
    update: "update_template",
    delete: "delete_template", "Delete a template (admin); tasks keep their own snapshot."
);

catalogue_api!(
    HostsApi, "/api/v1/hosts", "ApiTags::Hosts", hosts, api_types::Host, api_types::HostInput,
    list: "list_hosts", "Every host, by name.",
    create: "create_host", "Register a host (admin).",
    get: "get_host",
    update: "update_host",
    delete: "delete_host", "Delete a host (admin)."
);

catalogue_api!(
    CredentialsApi, "/api/v1/credentials", "ApiTags::Credentials", credentials, api_types::Credential, api_types::CredentialInput,
    list: "list_credentials", "Every credential, without its secret.",
    create: "create_credential", "Store a credential (admin); the secret is encrypted and never returned.",
    get: "get_credential",
    update: "update_credential",
    delete: "delete_credential", "Delete a credential (admin); refused while a host uses it."
);
