//! The signing key is rotated without logging anybody out, as keys/README.md tells an operator to:
//! the new public key is added everywhere, authen-service switches to the new private key, and the
//! old public key goes once its tokens are no longer needed. A token is accepted exactly while the
//! key that signed it is listed. authen-service refuses to start with a private key that no listed
//! public key matches.

use std::path::Path;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e_tests::{Platform, generate_keys};
use serde_json::Value;

/// The path of a key file, as `JWT_PUBLIC_KEY` and `JWT_PRIVATE_KEY` name it.
fn key_file(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// The `kid` in the token's header.
fn kid_of(token: &str) -> String {
    let header = token.split('.').next().expect("a compact JWS");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("JSON");
    header["kid"].as_str().expect("a kid").to_owned()
}

/// The kids authen-service's JWKS lists, in order.
async fn published_kids(platform: &Platform) -> Vec<String> {
    let jwks = platform.api.jwks().await;
    assert_eq!(jwks.status, 200, "{}", jwks.text);
    jwks.body["keys"]
        .as_array()
        .expect("a list of keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("a kid").to_owned())
        .collect()
}

/// The status blog-service answers a reader presenting `token` (it asks author-service).
async fn read_status(platform: &Platform, token: &str) -> u16 {
    platform.api.list_blogs(Some(token), "").await.status
}

/// Restarts author-service, then authen-service, with these key files.
async fn restart_with_keys(platform: &mut Platform, public: &str, private: &str) {
    for service in ["author", "authen"] {
        platform.stop_service(service);
        platform.set_service_env(
            service,
            &[("JWT_PUBLIC_KEY", public), ("JWT_PRIVATE_KEY", private)],
        );
        platform.start_service(service);
        platform.wait_ready(service).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn old_tokens_stay_valid_until_the_old_key_is_removed() {
    let mut platform = Platform::start().await;
    let old_public = key_file(platform.keys_dir(), "public.pem");
    let old_private = key_file(platform.keys_dir(), "private.pem");
    let next = tempfile::tempdir().unwrap();
    generate_keys(next.path()).expect("a key pair");
    let new_public = key_file(next.path(), "public.pem");
    let new_private = key_file(next.path(), "private.pem");

    let old_token = platform.user_token("reader", &["READ"]).await;
    let old_kid = kid_of(&old_token);
    assert_eq!(published_kids(&platform).await, [old_kid.as_str()]);

    // 1. The new public key is listed everywhere; authen-service still signs with the old key.
    let both = format!("{old_public},{new_public}");
    restart_with_keys(&mut platform, &both, &old_private).await;
    assert_eq!(read_status(&platform, &old_token).await, 200);
    let kids = published_kids(&platform).await;
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert_eq!(kids[0], old_kid);
    let new_kid = kids[1].clone();
    assert_ne!(new_kid, old_kid);
    let another_old_token = platform.api.token("reader", "reader-password").await;
    assert_eq!(kid_of(&another_old_token), old_kid);

    // 2. authen-service signs with the new key: tokens of both keys are accepted.
    restart_with_keys(&mut platform, &both, &new_private).await;
    let new_token = platform.api.token("reader", "reader-password").await;
    assert_eq!(kid_of(&new_token), new_kid);
    assert_eq!(read_status(&platform, &new_token).await, 200);
    assert_eq!(read_status(&platform, &old_token).await, 200);
    assert_eq!(
        published_kids(&platform).await,
        [old_kid.as_str(), new_kid.as_str()]
    );
    // A session from before the switch can still log out.
    let logout = platform.api.logout(Some(&another_old_token)).await;
    assert_eq!(logout.status, 204, "{}", logout.text);
    assert_eq!(read_status(&platform, &another_old_token).await, 401);

    // 3. The old public key is removed: its tokens are refused, the new key's are not.
    restart_with_keys(&mut platform, &new_public, &new_private).await;
    assert_eq!(read_status(&platform, &old_token).await, 401);
    let authorize = platform.api.authorize(Some(&old_token), "READ").await;
    assert_eq!(authorize.status, 401, "{}", authorize.text);
    assert_eq!(read_status(&platform, &new_token).await, 200);
    assert_eq!(published_kids(&platform).await, [new_kid]);
}

#[tokio::test(flavor = "multi_thread")]
async fn authen_refuses_a_private_key_that_no_public_key_matches() {
    let mut platform = Platform::start().await;
    let other = tempfile::tempdir().unwrap();
    generate_keys(other.path()).expect("a key pair");
    let other_private = key_file(other.path(), "private.pem");

    platform.stop_service("authen");
    platform.set_service_env("authen", &[("JWT_PRIVATE_KEY", &other_private)]);
    platform.start_service("authen");
    let status = platform.wait_for_refusal("authen");
    assert!(!status.success(), "{status}");
    let log = platform.log("authen");
    let refusal: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("cannot start"))
        .collect();
    assert_eq!(refusal.len(), 1, "{log}");
    assert!(
        refusal[0].contains("JWT_PUBLIC_KEY") && refusal[0].contains("JWT_PRIVATE_KEY"),
        "{log}"
    );
}
