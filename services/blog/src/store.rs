//! The blogs collection. Each MongoDB operation runs through the scenario flags that can slow it
//! down (see `scenarios`).

use futures_util::TryStreamExt;
use mongodb::{
    Collection, Database,
    bson::{DateTime, doc, oid::ObjectId},
};
use platform::{ApiError, Principal, mongo::detached};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{NewBlog, Page},
    scenarios::DatabaseScenarios,
};

pub const COLLECTION: &str = "blogs";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlogDocument {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub title: String,
    pub content: String,
    pub author_id: ObjectId,
    pub author_username: String,
    pub created_at: DateTime,
}

#[derive(Clone)]
pub struct Blogs {
    collection: Collection<BlogDocument>,
    scenarios: DatabaseScenarios,
}

/// Newest first, by `_id`: an ObjectId starts with its creation second and then grows within the
/// process that made it, so the order follows creation and never ties, which keeps pages stable.
/// The always-present `_id` index serves this sort; a second index on `created_at` would only
/// repeat it.
fn newest_first() -> mongodb::bson::Document {
    doc! { "_id": -1 }
}

impl Blogs {
    pub fn new(database: &Database, scenarios: DatabaseScenarios) -> Self {
        Self {
            collection: database.collection(COLLECTION),
            scenarios,
        }
    }

    pub async fn insert(
        &self,
        blog: NewBlog,
        author: &Principal,
    ) -> Result<BlogDocument, ApiError> {
        let author_id = ObjectId::parse_str(&author.sub).map_err(|_| {
            ApiError::Internal(
                "author-service returned a subject that is not an ObjectId".to_owned(),
            )
        })?;
        let document = BlogDocument {
            id: ObjectId::new(),
            title: blog.title,
            content: blog.content,
            author_id,
            author_username: author.username.clone(),
            created_at: DateTime::now(),
        };
        let Self {
            collection,
            scenarios,
        } = self.clone();
        detached(async move {
            let insert = collection.insert_one(&document);
            scenarios.run("insert", COLLECTION, insert).await?;
            Ok(document)
        })
        .await
    }

    pub async fn get(&self, id: ObjectId) -> Result<Option<BlogDocument>, ApiError> {
        let Self {
            collection,
            scenarios,
        } = self.clone();
        detached(async move {
            let find = collection.find_one(doc! { "_id": id });
            Ok(scenarios.run("find", COLLECTION, find).await?)
        })
        .await
    }

    /// One page, newest first, and the total count, fetched concurrently.
    ///
    /// The total is the collection's document count from its metadata (the `count` command
    /// without a filter), not `count_documents`, an aggregation that reads every document on every
    /// list request: with nx-27017 it took 14 ms at 100 blogs and 400 ms at 3 000, and at 5 700
    /// eight concurrent lists all ran past the 4.5 s deadline (503). With no filter the two agree,
    /// except right after an unclean shutdown of a real MongoDB, until it recounts.
    pub async fn list(&self, page: Page) -> Result<(Vec<BlogDocument>, u64), ApiError> {
        let Self {
            collection,
            scenarios,
        } = self.clone();
        detached(async move {
            let items = async {
                collection
                    .find(doc! {})
                    .sort(newest_first())
                    .skip(u64::from(page.offset))
                    .limit(i64::from(page.limit))
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            };
            let items = scenarios.run("find", COLLECTION, items);
            let total = scenarios.run("count", COLLECTION, collection.estimated_document_count());
            Ok(tokio::try_join!(items, total)?)
        })
        .await
    }
}
