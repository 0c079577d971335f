//! `GET /blogs`, `GET /blogs/{id}` (READ) and `POST /blogs` (WRITE).

use axum::{
    Router,
    extract::{FromRef, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use platform::{
    ApiError, AuthorClient, Authorized,
    author::{Read, Write},
    extract::{Json, PathId, Query},
};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{NewBlog, Page, PageQuery},
    store::{BlogDocument, Blogs},
};

#[derive(Clone, FromRef)]
struct AppState {
    blogs: Blogs,
    author: AuthorClient,
}

pub fn router(blogs: Blogs, author: AuthorClient) -> Router {
    Router::new()
        .route("/blogs", get(list_blogs).post(create_blog))
        .route("/blogs/{id}", get(get_blog))
        .with_state(AppState { blogs, author })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBlogRequest {
    title: String,
    content: String,
}

#[derive(Serialize)]
struct BlogResponse {
    id: String,
    title: String,
    content: String,
    author_id: String,
    author_username: String,
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

#[derive(Serialize)]
struct BlogPage {
    items: Vec<BlogResponse>,
    limit: u32,
    offset: u32,
    total: u64,
}

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

/// A malformed id names no blog: 404, like an unknown one.
async fn get_blog(
    _reader: Authorized<Read>,
    State(blogs): State<Blogs>,
    PathId(id): PathId,
) -> Result<axum::Json<BlogResponse>, ApiError> {
    let id = id.ok_or(ApiError::NotFound("blog"))?;
    let blog = blogs.get(id).await?.ok_or(ApiError::NotFound("blog"))?;
    Ok(axum::Json(blog.into()))
}

/// The author is the token's subject; the body cannot name another (unknown fields are refused).
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
