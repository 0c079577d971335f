//! The `revoked_tokens` collection: authen-service records a token's `jti` there at logout, and
//! author-service refuses every token whose `jti` it holds.
//!
//! A revocation only matters until the token expires anyway, so each document carries the token's
//! `exp` as `expires_at`, and a TTL index lets MongoDB delete it from then on: the collection never
//! holds more than the revocations of the last token lifetime.

use mongodb::{Collection, Database, bson::DateTime};
use serde::{Deserialize, Serialize};

/// The MongoDB collection of revoked tokens.
pub const COLLECTION: &str = "revoked_tokens";

/// One revoked token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevocationDocument {
    /// The token's `jti`: one revocation per token, however often it is logged out.
    #[serde(rename = "_id")]
    pub jti: String,
    /// The token's `exp`; MongoDB's TTL monitor removes the document after it.
    pub expires_at: DateTime,
    /// When the revocation was recorded; author-service polls for the recent ones.
    pub revoked_at: DateTime,
}

/// The revoked tokens' collection in `database`.
pub fn collection(database: &Database) -> Collection<RevocationDocument> {
    database.collection(COLLECTION)
}
