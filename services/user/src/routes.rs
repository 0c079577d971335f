//! `POST /users` and `GET /users/{id}`, both for administrators only.

use axum::{
    extract::{FromRef, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use platform::{
    ApiError, AuthorClient, Authorized, Permission,
    author::Admin,
    extract::{Json, PathId},
    openapi::{
        BadRequest, Conflict, Forbidden, Id, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
        UnsupportedMediaType,
    },
    users::UserDocument,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{domain::NewUser, store::Users};

#[derive(Clone, FromRef)]
struct AppState {
    users: Users,
    author: AuthorClient,
}

pub fn router(users: Users, author: AuthorClient) -> OpenApiRouter {
    operations().with_state(AppState { users, author })
}

/// The routes, each documented by its `#[utoipa::path]`.
fn operations() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user))
        .routes(routes!(get_user))
}

/// The limits here are the ones `NewUser::parse` enforces.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateUserRequest {
    /// Unique and case-sensitive.
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,32}$")]
    username: String,
    /// 8 to 128 characters; stored only as an argon2id hash.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 128)]
    password: SecretString,
    /// A name may repeat; it is stored once.
    #[schema(min_items = 1)]
    permissions: Vec<Permission>,
}

/// A user as the API shows it: never the hash.
#[derive(Serialize, ToSchema)]
struct UserResponse {
    #[schema(value_type = Id)]
    id: String,
    username: String,
    /// In the order READ, WRITE, ADMIN, each once.
    #[schema(value_type = std::collections::BTreeSet<Permission>, min_items = 1)]
    permissions: Vec<Permission>,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<UserDocument> for UserResponse {
    fn from(user: UserDocument) -> Self {
        Self {
            id: user.id.to_hex(),
            username: user.username,
            permissions: user.permissions,
            created_at: platform::rfc3339(user.created_at),
        }
    }
}

/// Creates a user (ADMIN).
#[utoipa::path(post, path = "/users", tag = "users",
    request_body = CreateUserRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The user, created.", body = UserResponse,
            headers(("Location" = String, description = "`/users/{id}` of the new user."))),
        BadRequest, Unauthorized, Forbidden, Conflict, PayloadTooLarge, UnsupportedMediaType,
        Unavailable,
    ))]
async fn create_user(
    _admin: Authorized<Admin>,
    State(users): State<Users>,
    Json(request): Json<CreateUserRequest>,
) -> Result<Response, ApiError> {
    let user = NewUser::parse(request.username, request.password, request.permissions)?;
    let created = users.insert(user).await?;
    let location = HeaderValue::from_str(&format!("/users/{}", created.id.to_hex()))
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    tracing::info!(user_id = %created.id, "user created");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(UserResponse::from(created)),
    )
        .into_response())
}

/// Reads a user (ADMIN).
#[utoipa::path(get, path = "/users/{id}", tag = "users",
    params(("id" = Id, Path, description = "The user's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user.", body = UserResponse),
        Unauthorized, Forbidden, NotFound, Unavailable,
    ))]
async fn get_user(
    _admin: Authorized<Admin>,
    State(users): State<Users>,
    PathId(id): PathId,
) -> Result<axum::Json<UserResponse>, ApiError> {
    let id = id.ok_or(ApiError::NotFound("user"))?;
    let user = users.get(id).await?.ok_or(ApiError::NotFound("user"))?;
    Ok(axum::Json(user.into()))
}

#[cfg(test)]
mod tests {
    use e2e_tests::openapi::checked_document;

    use super::operations;

    #[test]
    fn the_document_is_openapi_3_1_and_lists_every_operation() {
        checked_document(
            &crate::SERVICE,
            operations(),
            &[("post", "/users"), ("get", "/users/{id}")],
        );
    }
}
