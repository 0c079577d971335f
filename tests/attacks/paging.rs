//! Paging, ids, Unicode and lengths: exact answers.

use e2e_tests::{ADMIN_PASSWORD, Platform};
use mongodb::bson::doc;
use reqwest::{Method, header::CONTENT_TYPE};

use crate::checks::*;

/// `bytes` percent-encoded, every byte, so the path goes on the wire exactly as meant.
fn percent_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("%{byte:02X}")).collect()
}

/// The callers of the third test.
struct Callers {
    admin: String,
    reader: String,
    writer: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_ids_unicode_and_lengths_are_exact() {
    let platform = Platform::start().await;
    let callers = Callers {
        admin: platform.admin_token().await,
        reader: platform.user_token("reader", &["READ"]).await,
        writer: platform.user_token("writer", &["READ", "WRITE"]).await,
    };
    let mut checks = Checks::default();
    paging(&platform, &callers, &mut checks).await;
    ids(&platform, &callers, &mut checks).await;
    unicode_round_trips(&platform, &callers, &mut checks).await;
    blog_lengths(&platform, &callers, &mut checks).await;
    let mut secrets = usernames_and_passwords(&platform, &callers, &mut checks).await;
    checks.assert_all_passed("paging, id, Unicode and length");

    secrets.extend([
        ADMIN_PASSWORD.to_owned(),
        "reader-password".to_owned(),
        "writer-password".to_owned(),
        callers.admin,
        callers.reader,
        callers.writer,
    ]);
    assert_nothing_leaks(&platform, secrets).await;
}

/// `limit` is 1-100 and `offset` 0-4 294 967 295 (README): anything else, and any other
/// parameter, is a 400; an offset past the end is an empty page.
async fn paging(platform: &Platform, callers: &Callers, checks: &mut Checks) {
    let api = &platform.api;
    assert_eq!(
        count(platform, "blogs").await,
        0,
        "paging starts from no blogs"
    );
    for title in ["First", "Second", "Third"] {
        let reply = api.post_blog(Some(&callers.writer), title, "Paging.").await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    // The page an accepted query must give: its limit, offset and number of items.
    type Page = (u64, u64, usize);
    let pages: Vec<(&str, Option<Page>)> = vec![
        ("", Some((20, 0, 3))),
        ("?limit=1", Some((1, 0, 1))),
        ("?limit=100", Some((100, 0, 3))),
        ("?limit=2&offset=2", Some((2, 2, 1))),
        ("?offset=3", Some((20, 3, 0))),
        ("?offset=1000000", Some((20, 1_000_000, 0))),
        ("?offset=4294967295", Some((20, 4_294_967_295, 0))),
        ("?limit=0", None),
        ("?limit=-1", None),
        ("?limit=101", None),
        ("?limit=1e9", None),
        ("?limit=1000000000", None),
        ("?limit=18446744073709551616", None),
        ("?limit=abc", None),
        ("?limit=", None),
        ("?limit=1.5", None),
        ("?limit=%00", None),
        ("?limit=0x10", None),
        ("?offset=-1", None),
        ("?offset=1.5", None),
        ("?offset=4294967296", None),
        ("?offset=9223372036854775808", None),
        ("?offset=abc", None),
        ("?limit[$gt]=0", None),
        ("?limit%5B%24gt%5D=0", None),
        ("?offset[$ne]=1", None),
        ("?limit=%7B%22%24gt%22%3A0%7D", None),
        ("?limit[]=1", None),
        ("?limit=1&limit=2", None),
        ("?sort=title", None),
        ("?%24where=1", None),
        ("?limit=5&$where=sleep(1000)", None),
    ];
    for (query, page) in pages {
        let reply = api.list_blogs(Some(&callers.reader), query).await;
        let case = format!("GET /blogs{query}");
        let Some((limit, offset, items)) = page else {
            checks.expect(&case, &reply, 400);
            continue;
        };
        if checks.expect(&case, &reply, 200) {
            let body = &reply.body;
            if body["limit"] != limit
                || body["offset"] != offset
                || body["total"] != 3
                || body["items"].as_array().map(Vec::len) != Some(items)
            {
                checks.fail(&case, &format!("wrong page {}", shorten(&reply.text)));
            }
        }
    }
    // A token in the query string is not a credential (RFC 6750 advises against it), and it must
    // not end up in the request's span either (checked with the other secrets at the end).
    let reply = api
        .list_blogs(None, &format!("?access_token={}", callers.reader))
        .await;
    checks.expect("GET /blogs?access_token=<token>", &reply, 401);
}

/// Anything in an id's place that is not one of our ObjectIds names nothing: 404. Each goes on
/// the wire exactly as written (raw HTTP: a URL library would normalise `%2E%2E`).
async fn ids(platform: &Platform, callers: &Callers, checks: &mut Checks) {
    let api = &platform.api;
    let blog = api
        .post_blog(Some(&callers.writer), "Find me", "By id.")
        .await;
    assert_eq!(blog.status, 201, "{}", blog.text);
    let blog_id = blog.body["id"].as_str().unwrap().to_owned();
    let admin_id = subject_of(api, &callers.admin).await;
    for (service, collection, token, existing) in [
        ("blog", "/blogs", &callers.reader, &blog_id),
        ("user", "/users", &callers.admin, &admin_id),
    ] {
        let malformed: Vec<String> = vec![
            "000000000000000000000000".into(),
            "ffffffffffffffffffffffff".into(),
            "abc".into(),
            existing[..23].to_owned(),
            format!("{existing}0"),
            "zzzzzzzzzzzzzzzzzzzzzzzz".into(),
            percent_encode("ünïcödé".as_bytes()),
            percent_encode("😀😀😀😀😀😀".as_bytes()),
            percent_encode(br#"{"$ne":null}"#),
            "%24ne".into(),
            "%24where".into(),
            "%00".into(),
            format!("{existing}%00"),
            format!("{existing}%20"),
            "%FF".into(),
            format!("%FF{}", &existing[1..]),
            "%2E%2E".into(),
            "..%2F..%2Fusers".into(),
            "x".repeat(10_000),
            String::new(),
        ];
        let authorization = format!("Bearer {token}");
        let send = async |id: &str| {
            let path = format!("{collection}/{id}");
            let headers = [("Authorization", authorization.as_str())];
            let request = http_request("GET", &path, &headers, b"", false);
            api.send_raw(service, request).await
        };
        let reply = send(existing).await;
        checks.expect(&format!("GET {collection}/<existing id>"), &reply, 200);
        for id in malformed {
            let reply = send(&id).await;
            checks.expect(&format!("GET {collection}/{}", shorten(&id)), &reply, 404);
        }
    }
}

/// What is written is what is read back, by id, in the listing and in the database, to the byte:
/// no normalisation, no truncation at a NUL, no escaping.
async fn unicode_round_trips(platform: &Platform, callers: &Callers, checks: &mut Checks) {
    let api = &platform.api;
    let writer = &callers.writer;
    let reader = &callers.reader;
    let emoji_title = "😀".repeat(200);
    let texts: [(&str, &str); 9] = [
        (
            "📝 Notes ✨ 🧑🏽‍💻 👩‍👩‍👧‍👦 🏳️‍🌈",
            "Flags 🇫🇷🇯🇵, a keycap 1️⃣, a skin tone 👍🏿.",
        ),
        (
            "Cafe\u{301} n\u{303}o\u{308} Z\u{335}\u{321}a\u{300}",
            "Decomposed (NFD) stays decomposed: e\u{301} is not é.",
        ),
        (
            "مرحبا بالعالم",
            "שלום עולם, with overrides: \u{202e}txt.exe\u{202c} and \u{2067}isolated\u{2069}.",
        ),
        ("你好，世界 こんにちは 안녕하세요", "Beyond the BMP: 𠀀𪚥𝄞."),
        (
            "before\u{0}after",
            "NUL \u{0}, tab \t, CR LF \r\n, bell \u{7}, escape \u{1b}[31m.",
        ),
        (r#"{"$ne": null}"#, "$where: sleep(1000); db.users.drop()"),
        (
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)> &amp; \" ' \\ /",
        ),
        (
            "\u{feff}BOM \u{fffd} \u{ffff} \u{10ffff}",
            "Zero width: a\u{200b}b\u{200d}c\u{2060}d.",
        ),
        (
            &emoji_title,
            "Two hundred emoji are two hundred characters.",
        ),
    ];
    let mut round_trips = Vec::new();
    for (title, content) in texts {
        let reply = api.post_blog(Some(writer), title, content).await;
        if checks.expect(&format!("POST /blogs {:?}", shorten(title)), &reply, 201) {
            round_trips.push((
                reply.body["id"].as_str().unwrap().to_owned(),
                title,
                content,
            ));
        }
    }
    // JSON escapes, surrogate pairs included, arrive decoded.
    let escaped = api
        .execute(
            api.request("blog", Method::POST, "/blogs")
                .bearer_auth(writer)
                .header(CONTENT_TYPE, "application/json")
                .body(r#"{"title":"\ud83d\ude00 \u00e9 \u0000 \/","content":"\"\\\b\f\n\r\t"}"#),
        )
        .await;
    if checks.expect("POST /blogs with JSON escapes", &escaped, 201) {
        round_trips.push((
            escaped.body["id"].as_str().unwrap().to_owned(),
            "😀 é \u{0} /",
            "\"\\\u{8}\u{c}\n\r\t",
        ));
    }
    let listing = api.list_blogs(Some(reader), "?limit=100").await;
    let blogs = platform.mongo.collection("blogs").await;
    for (id, title, content) in &round_trips {
        let case = format!("round trip of {:?}", shorten(title));
        let fetched = api.get_blog(Some(reader), id).await;
        let listed = listing.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["id"] == id.as_str());
        let stored = blogs
            .find_one(doc! { "_id": mongodb::bson::oid::ObjectId::parse_str(id).unwrap() })
            .await
            .unwrap()
            .unwrap();
        let answers = [
            (
                "GET by id",
                fetched.body["title"].as_str(),
                fetched.body["content"].as_str(),
            ),
            (
                "the listing",
                listed.and_then(|item| item["title"].as_str()),
                listed.and_then(|item| item["content"].as_str()),
            ),
            (
                "the database",
                stored.get_str("title").ok(),
                stored.get_str("content").ok(),
            ),
        ];
        for (place, got_title, got_content) in answers {
            if got_title != Some(title) || got_content != Some(content) {
                checks.fail(
                    &case,
                    &format!("{place} has {got_title:?} / {got_content:?}"),
                );
            }
        }
    }
}

/// Titles and contents count Unicode scalar values: not bytes, not user-perceived characters.
async fn blog_lengths(platform: &Platform, callers: &Callers, checks: &mut Checks) {
    let api = &platform.api;
    let blog_lengths: Vec<(&str, String, String, u16)> = vec![
        ("title of 200 CJK", "字".repeat(200), "c".into(), 201),
        ("title of 201 emoji", "😀".repeat(201), "c".into(), 400),
        (
            "title of 100 e + U+0301 (200 scalars)",
            "e\u{301}".repeat(100),
            "c".into(),
            201,
        ),
        (
            "title of 100 e + U+0301 and an e (201 scalars)",
            format!("{}e", "e\u{301}".repeat(100)),
            "c".into(),
            400,
        ),
        ("title of 201 ASCII", "t".repeat(201), "c".into(), 400),
        ("empty title", String::new(), "c".into(), 400),
        (
            "title of Unicode white space",
            "\u{3000}\u{a0}\u{2003}\n\t ".into(),
            "c".into(),
            400,
        ),
        (
            "content of 20 000 ASCII",
            "t".into(),
            "c".repeat(20_000),
            201,
        ),
        (
            "content of 20 001 ASCII",
            "t".into(),
            "c".repeat(20_001),
            400,
        ),
        (
            "content of 20 000 CJK (60 000 bytes)",
            "t".into(),
            "字".repeat(20_000),
            201,
        ),
        (
            "content of 20 001 CJK",
            "t".into(),
            "字".repeat(20_001),
            400,
        ),
        // Within the character limit, but 80 000 bytes: the body limit comes first.
        (
            "content of 20 000 emoji (80 000 bytes)",
            "t".into(),
            "😀".repeat(20_000),
            413,
        ),
        ("empty content", "t".into(), String::new(), 400),
    ];
    let blogs_before = count(platform, "blogs").await;
    let mut blogs_created = 0;
    for (case, title, content, status) in blog_lengths {
        let reply = api.post_blog(Some(&callers.writer), &title, &content).await;
        if checks.expect(&format!("POST /blogs, {case}"), &reply, status) && status == 201 {
            blogs_created += 1;
            if reply.body["title"] != title.as_str() || reply.body["content"] != content.as_str() {
                checks.fail(case, "not stored as sent");
            }
        }
    }
    assert_eq!(count(platform, "blogs").await, blogs_before + blogs_created);
}

/// Usernames are 3-32 of `[A-Za-z0-9_.-]`, so no look-alike of the admin can be made; passwords
/// are 8-128 characters of anything, compared exactly (a NUL ends nothing). Returns the
/// passwords used, which nothing may echo.
async fn usernames_and_passwords(
    platform: &Platform,
    callers: &Callers,
    checks: &mut Checks,
) -> Vec<String> {
    let api = &platform.api;
    let admin = &callers.admin;
    let users_before = count(platform, "users").await;
    let mut users_created = 0;
    let usernames: Vec<(&str, String, u16)> = vec![
        ("32 characters", "u".repeat(32), 201),
        ("33 characters", "u".repeat(33), 400),
        ("Cyrillic look-alike", "rооt-admin".into(), 400),
        ("full-width look-alike", "ｒｏｏｔ-admin".into(), 400),
        ("combining accent", "root-admin\u{301}".into(), 400),
        ("zero-width space", "root\u{200b}-admin".into(), 400),
        ("trailing newline", "root-admin\n".into(), 400),
        ("NUL", "root-admin\u{0}".into(), 400),
        ("leading space", " root-admin".into(), 400),
        ("1 MiB", "u".repeat(MIB), 413),
    ];
    for (case, username, status) in usernames {
        let reply = api
            .create_user(admin, &username, "a-good-password-1", &["READ"])
            .await;
        if checks.expect(&format!("POST /users, username of {case}"), &reply, status)
            && status == 201
        {
            users_created += 1;
            if reply.body["username"] != username.as_str() {
                checks.fail(case, "not stored as sent");
            }
        }
    }

    let passwords: Vec<(&str, &str, String, u16)> = vec![
        ("emoji-128", "128 emoji", "🔑".repeat(128), 201),
        ("emoji-129", "129 emoji", "🔑".repeat(129), 400),
        (
            "with-nul",
            "a NUL inside",
            "nul\u{0}the-rest-counts-too".into(),
            201,
        ),
        (
            "rtl",
            "RTL and combining",
            "كلمة\u{202e}السر e\u{301}".into(),
            201,
        ),
        ("huge", "1 MiB", "p".repeat(MIB), 413),
    ];
    let mut secrets = vec!["a-good-password-1".to_owned()];
    for (username, case, password, status) in passwords {
        let reply = api.create_user(admin, username, &password, &["READ"]).await;
        if checks.expect(&format!("POST /users, password of {case}"), &reply, status)
            && status == 201
        {
            users_created += 1;
            let login = api.login(username, &password).await;
            checks.expect(&format!("login with a password of {case}"), &login, 200);
        }
        if password.len() < MIB {
            secrets.push(password);
        }
    }
    for (case, password) in [
        ("cut at the NUL", "nul"),
        ("up to and with the NUL", "nul\u{0}"),
    ] {
        let reply = api.login("with-nul", password).await;
        checks.expect(&format!("login with the NUL password {case}"), &reply, 401);
    }
    assert_eq!(count(platform, "users").await, users_before + users_created);
    secrets
}
