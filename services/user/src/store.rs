//! The users collection as user-service writes it.

use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, doc, oid::ObjectId},
    options::IndexOptions,
};
use platform::{ApiError, Permission, mongo, password, users::UserDocument};

use crate::domain::{Admin, NewUser};

#[derive(Clone)]
pub struct Users(Collection<UserDocument>);

impl Users {
    pub fn new(database: &Database) -> Self {
        Self(platform::users::collection(database))
    }

    /// Creates the unique username index, then the bootstrap admin, retrying in the background
    /// until the database answers.
    pub fn prepare_in_background(&self, admin: Option<Admin>) {
        let users = self.clone();
        let admin = std::sync::Arc::new(admin);
        mongo::spawn_until_done("users: indexes and admin", move || {
            let users = users.clone();
            let admin = admin.clone();
            async move {
                users.ensure_indexes().await?;
                if let Some(admin) = admin.as_ref() {
                    users.ensure_admin(admin).await?;
                }
                Ok(())
            }
        });
    }

    /// The unique index makes duplicate usernames impossible, even for concurrent requests.
    async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        let unique = IndexModel::builder()
            .keys(doc! { "username": 1 })
            .options(
                IndexOptions::builder()
                    .unique(true)
                    .name("username_unique".to_owned())
                    .build(),
            )
            .build();
        self.0.create_index(unique).await?;
        Ok(())
    }

    /// Makes sure the admin exists with ADMIN, READ and WRITE. Never changes an existing password.
    async fn ensure_admin(&self, admin: &Admin) -> mongodb::error::Result<()> {
        let hash = password::hash(admin.password.expose_for_hashing())
            .await
            .map_err(|error| mongodb::error::Error::custom(error.to_string()))?;
        let all: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        self.0
            .update_one(
                doc! { "username": admin.username.as_str() },
                doc! {
                    "$setOnInsert": { "password_hash": hash, "created_at": DateTime::now() },
                    "$addToSet": { "permissions": { "$each": all } },
                },
            )
            .upsert(true)
            .await?;
        tracing::info!(username = admin.username.as_str(), "bootstrap admin ready");
        Ok(())
    }

    /// Stores a new user; a taken username is a 409.
    pub async fn insert(&self, user: NewUser) -> Result<UserDocument, ApiError> {
        let password_hash = password::hash(user.password.into_secret()).await?;
        let document = UserDocument {
            id: ObjectId::new(),
            username: user.username.as_str().to_owned(),
            password_hash,
            permissions: user.permissions,
            created_at: DateTime::now(),
        };
        let users = self.0.clone();
        mongo::detached(async move {
            match users.insert_one(&document).await {
                Ok(_) => Ok(document),
                Err(error) if mongo::is_duplicate_key(&error) => Err(ApiError::Conflict(format!(
                    "The username `{}` is taken.",
                    document.username
                ))),
                Err(error) => Err(error.into()),
            }
        })
        .await
    }

    pub async fn get(&self, id: ObjectId) -> Result<Option<UserDocument>, ApiError> {
        let users = self.0.clone();
        mongo::detached(async move { Ok(users.find_one(doc! { "_id": id }).await?) }).await
    }
}
