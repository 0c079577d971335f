//! `POST /users` and `GET /users/{id}`, both for administrators only.

use axum::{
    Router,
    extract::{FromRef, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use platform::{
    ApiError, AuthorClient, Authorized, Permission,
    author::Admin,
    extract::{Json, PathId},
    users::UserDocument,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::{domain::NewUser, store::Users};

#[derive(Clone, FromRef)]
struct AppState {
    users: Users,
    author: AuthorClient,
}

pub fn router(users: Users, author: AuthorClient) -> Router {
    Router::new()
        .route("/users", post(create_user))
        .route("/users/{id}", get(get_user))
        .with_state(AppState { users, author })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUserRequest {
    username: String,
    password: SecretString,
    permissions: Vec<Permission>,
}

/// A user as the API shows it: never the hash.
#[derive(Serialize)]
struct UserResponse {
    id: String,
    username: String,
    permissions: Vec<Permission>,
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

async fn get_user(
    _admin: Authorized<Admin>,
    State(users): State<Users>,
    PathId(id): PathId,
) -> Result<axum::Json<UserResponse>, ApiError> {
    let id = id.ok_or(ApiError::NotFound("user"))?;
    let user = users.get(id).await?.ok_or(ApiError::NotFound("user"))?;
    Ok(axum::Json(user.into()))
}
