//! What a valid blog and a valid page request are.

use platform::ApiError;
use serde::Deserialize;
use utoipa::IntoParams;

/// A blog as the API accepts it: `title` 1–200 characters, `content` 1–20 000, neither blank.
pub struct NewBlog {
    pub title: String,
    pub content: String,
}

impl NewBlog {
    pub fn parse(title: String, content: String) -> Result<Self, ApiError> {
        check_length("title", &title, 200)?;
        check_length("content", &content, 20_000)?;
        Ok(Self { title, content })
    }
}

/// Lengths count characters (Unicode scalar values), not bytes; white space alone is empty.
fn check_length(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let length = value.chars().count();
    if value.trim().is_empty() || length > max {
        return Err(ApiError::BadRequest(format!(
            "`{field}` must be 1 to {max} characters and not blank."
        )));
    }
    Ok(())
}

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// `?limit=&offset=` for listings. Other parameters are refused.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many blogs to return, 1 to 100.
    // The attribute takes literals only; a test in routes.rs checks them against the constants.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
    /// How many of the newest blogs to skip, up to 4 294 967 295; past the end gives an empty
    /// page.
    // A u32, which utoipa calls int32; int64 with a maximum says what is accepted.
    #[param(default = 0, format = Int64, maximum = 4294967295u32)]
    offset: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub offset: u32,
}

impl Page {
    pub fn parse(query: PageQuery) -> Result<Self, ApiError> {
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "`limit` must be 1 to {MAX_LIMIT}."
            )));
        }
        Ok(Self {
            limit,
            offset: query.offset.unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_contents() {
        assert!(NewBlog::parse("t".into(), "c".into()).is_ok());
        assert!(NewBlog::parse("é".repeat(200), "c".repeat(20_000)).is_ok());
        assert!(NewBlog::parse("é".repeat(201), "c".into()).is_err());
        assert!(NewBlog::parse("t".into(), "c".repeat(20_001)).is_err());
        assert!(NewBlog::parse("".into(), "c".into()).is_err());
        assert!(NewBlog::parse(" \n\t".into(), "c".into()).is_err());
        assert!(NewBlog::parse("t".into(), "".into()).is_err());
    }

    #[test]
    fn pages() {
        let page = |limit, offset| Page::parse(PageQuery { limit, offset });
        assert_eq!(
            page(None, None).unwrap(),
            Page {
                limit: 20,
                offset: 0
            }
        );
        assert_eq!(
            page(Some(100), Some(7)).unwrap(),
            Page {
                limit: 100,
                offset: 7
            }
        );
        assert!(page(Some(0), None).is_err());
        assert!(page(Some(101), None).is_err());
    }
}
