//! Reads users by name for login.

use mongodb::{Collection, Database, bson::doc};
use platform::{ApiError, users::UserDocument};

#[derive(Clone)]
pub struct Users(Collection<UserDocument>);

impl Users {
    pub fn new(database: &Database) -> Self {
        Self(platform::users::collection(database))
    }

    pub async fn find_by_username(&self, username: &str) -> Result<Option<UserDocument>, ApiError> {
        Ok(self.0.find_one(doc! { "username": username }).await?)
    }
}
