//! `GET /blogs`, `GET /blogs/{id}` (READ) and `POST /blogs` (WRITE).

use axum::{
    extract::{FromRef, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use platform::{
    ApiError, AuthorClient, Authorized,
    author::{Read, Write},
    extract::{Json, PathId, Query},
    openapi::{
        BadRequest, Forbidden, Id, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
        UnsupportedMediaType,
    },
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::{NewBlog, Page, PageQuery},
    store::{BlogDocument, Blogs},
};

#[derive(Clone, FromRef)]
struct AppState {
    blogs: Blogs,
    author: AuthorClient,
}

pub fn router(blogs: Blogs, author: AuthorClient) -> OpenApiRouter {
    operations().with_state(AppState { blogs, author })
}

/// The routes, each documented by its `#[utoipa::path]`.
fn operations() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_blogs, create_blog))
        .routes(routes!(get_blog))
}

/// The limits here are the ones `NewBlog::parse` enforces. Lengths count characters; the pattern
/// asks for one character that is not white space (Rust's `char::is_whitespace`, which `trim`
/// uses), since a blank title or content is refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBlogRequest {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t\n\x0B\f\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    title: String,
    #[schema(
        min_length = 1,
        max_length = 20000,
        pattern = r"[^\t\n\x0B\f\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    content: String,
}

#[derive(Serialize, ToSchema)]
struct BlogResponse {
    #[schema(value_type = Id)]
    id: String,
    title: String,
    content: String,
    /// The id of the user who wrote it.
    #[schema(value_type = Id)]
    author_id: String,
    author_username: String,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<BlogDocument> for BlogResponse {
    fn from(blog: BlogDocument) -> Self {
        Self {
            id: blog.id.to_hex(),
            title: blog.title,
            content: blog.content,
            author_id: blog.author_id.to_hex(),
            author_username: blog.author_username,
            created_at: platform::rfc3339(blog.created_at),
        }
    }
}

/// One page of blogs, newest first.
#[derive(Serialize, ToSchema)]
struct BlogPage {
    items: Vec<BlogResponse>,
    #[schema(minimum = 1, maximum = 100)]
    limit: u32,
    #[schema(format = Int64, maximum = 4294967295u32)]
    offset: u32,
    /// How many blogs there are in all.
    total: u64,
}

/// Lists blogs, newest first (READ).
#[utoipa::path(get, path = "/blogs", tag = "blogs",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of blogs.", body = BlogPage),
        BadRequest, Unauthorized, Forbidden, Unavailable,
    ))]
async fn list_blogs(
    _reader: Authorized<Read>,
    State(blogs): State<Blogs>,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<BlogPage>, ApiError> {
    let page = Page::parse(query)?;
    let (items, total) = blogs.list(page).await?;
    Ok(axum::Json(BlogPage {
        items: items.into_iter().map(BlogResponse::from).collect(),
        limit: page.limit,
        offset: page.offset,
        total,
    }))
}

/// Reads a blog (READ).
///
/// A malformed id names no blog: 404, like an unknown one.
#[utoipa::path(get, path = "/blogs/{id}", tag = "blogs",
    params(("id" = Id, Path, description = "The blog's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The blog.", body = BlogResponse),
        Unauthorized, Forbidden, NotFound, Unavailable,
    ))]
async fn get_blog(
    _reader: Authorized<Read>,
    State(blogs): State<Blogs>,
    PathId(id): PathId,
) -> Result<axum::Json<BlogResponse>, ApiError> {
    let id = id.ok_or(ApiError::NotFound("blog"))?;
    let blog = blogs.get(id).await?.ok_or(ApiError::NotFound("blog"))?;
    Ok(axum::Json(blog.into()))
}

/// Writes a blog (WRITE).
///
/// The author is the token's subject; the body cannot name another (unknown fields are refused).
#[utoipa::path(post, path = "/blogs", tag = "blogs",
    request_body = CreateBlogRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The blog, created.", body = BlogResponse,
            headers(("Location" = String, description = "`/blogs/{id}` of the new blog."))),
        BadRequest, Unauthorized, Forbidden, PayloadTooLarge, UnsupportedMediaType, Unavailable,
    ))]
async fn create_blog(
    writer: Authorized<Write>,
    State(blogs): State<Blogs>,
    Json(request): Json<CreateBlogRequest>,
) -> Result<Response, ApiError> {
    let blog = NewBlog::parse(request.title, request.content)?;
    let created = blogs.insert(blog, &writer.principal).await?;
    let location = HeaderValue::from_str(&format!("/blogs/{}", created.id.to_hex()))
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(BlogResponse::from(created)),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use e2e_tests::openapi::checked_document;
    use serde_json::Value;

    use super::operations;
    use crate::domain::{DEFAULT_LIMIT, MAX_LIMIT};

    fn document() -> Value {
        checked_document(
            &crate::SERVICE,
            operations(),
            &[
                ("get", "/blogs"),
                ("post", "/blogs"),
                ("get", "/blogs/{id}"),
            ],
        )
    }

    #[test]
    fn the_document_is_openapi_3_1_and_lists_every_operation() {
        document();
    }

    #[test]
    fn the_documented_page_limits_are_the_enforced_ones() {
        let document = document();
        let limit = document["paths"]["/blogs"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|parameter| parameter["name"] == "limit")
            .expect("a limit parameter");
        assert_eq!(limit["schema"]["maximum"], MAX_LIMIT);
        assert_eq!(limit["schema"]["default"], DEFAULT_LIMIT);
    }
}
