//! Reads users by name for login, and records revoked tokens at logout.

use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, doc},
    options::IndexOptions,
};
use platform::{
    ApiError,
    mongo::{detached, is_duplicate_key, spawn_until_done},
    revocations::{self, RevocationDocument},
    users::UserDocument,
};

#[derive(Clone)]
pub struct Users(Collection<UserDocument>);

impl Users {
    pub fn new(database: &Database) -> Self {
        Self(platform::users::collection(database))
    }

    pub async fn find_by_username(&self, username: &str) -> Result<Option<UserDocument>, ApiError> {
        let users = self.0.clone();
        let filter = doc! { "username": username };
        detached(async move { Ok(users.find_one(filter).await?) }).await
    }
}

#[derive(Clone)]
pub struct Revocations(Collection<RevocationDocument>);

impl Revocations {
    pub fn new(database: &Database) -> Self {
        Self(revocations::collection(database))
    }

    /// Creates the indexes in the background, once the database answers: a TTL index that deletes
    /// each revocation when its token expires, and one for author-service's poll by `revoked_at`.
    pub fn prepare_in_background(&self) {
        let collection = self.0.clone();
        spawn_until_done("revoked_tokens indexes", move || {
            let collection = collection.clone();
            async move {
                let expire_at_expires_at = IndexModel::builder()
                    .keys(doc! { "expires_at": 1 })
                    .options(
                        IndexOptions::builder()
                            .expire_after(std::time::Duration::ZERO)
                            .build(),
                    )
                    .build();
                let by_revoked_at = IndexModel::builder().keys(doc! { "revoked_at": 1 }).build();
                collection
                    .create_indexes([expire_at_expires_at, by_revoked_at])
                    .await
                    .map(drop)
            }
        });
    }

    /// Revokes the token `jti` until `expires_at` (Unix seconds). Revoking it again is a no-op.
    pub async fn record(&self, jti: &str, expires_at: u64) -> Result<(), ApiError> {
        let expires_at_millis = i64::try_from(expires_at.saturating_mul(1000)).unwrap_or(i64::MAX);
        let document = RevocationDocument {
            jti: jti.to_owned(),
            expires_at: DateTime::from_millis(expires_at_millis),
            revoked_at: DateTime::now(),
        };
        let revocations = self.0.clone();
        detached(async move {
            match revocations.insert_one(document).await {
                Ok(_) => Ok(()),
                Err(error) if is_duplicate_key(&error) => Ok(()),
                Err(error) => Err(error.into()),
            }
        })
        .await
    }
}
