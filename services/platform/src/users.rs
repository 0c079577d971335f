//! The `users` collection, which user-service writes and authen-service reads.

use mongodb::{
    Collection, Database,
    bson::{DateTime, oid::ObjectId},
};
use serde::{Deserialize, Serialize};

use crate::Permission;

pub const COLLECTION: &str = "users";

/// A stored user. Deliberately not `Debug`: it holds the password hash.
#[derive(Clone, Serialize, Deserialize)]
pub struct UserDocument {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub username: String,
    /// An argon2id PHC string; the password itself is never stored.
    pub password_hash: String,
    pub permissions: Vec<Permission>,
    pub created_at: DateTime,
}

pub fn collection(database: &Database) -> Collection<UserDocument> {
    database.collection(COLLECTION)
}
