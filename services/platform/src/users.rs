//! The `users` collection, which user-service writes and authen-service reads.

use mongodb::{
    Collection, Database,
    bson::{DateTime, oid::ObjectId},
};
use serde::{Deserialize, Serialize};

use crate::Permission;

/// The MongoDB collection of users.
pub const COLLECTION: &str = "users";

/// A stored user. Deliberately not `Debug`: it holds the password hash.
#[derive(Clone, Serialize, Deserialize)]
pub struct UserDocument {
    /// The user's id, MongoDB's `_id`.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The name the user logs in with; unique.
    pub username: String,
    /// An argon2id PHC string; the password itself is never stored.
    pub password_hash: String,
    /// What the user's tokens allow.
    pub permissions: Vec<Permission>,
    /// When the user was created.
    pub created_at: DateTime,
}

/// The users' collection in `database`.
pub fn collection(database: &Database) -> Collection<UserDocument> {
    database.collection(COLLECTION)
}
