//! The documentation says what the code does. Each test reads the repository as a newcomer would
//! and checks one kind of claim against the code, listing every claim that is wrong at once:
//!
//! - every environment variable a binary reads is in docs/configuration.md, with the default the
//!   code uses; every variable a service or the launcher lists in its `--help` (declared once,
//!   beside the code that reads it) is there with the default `--help` gives, and every variable
//!   a service reads is in its `--help`; every variable a document names is read by something in
//!   the repository;
//! - every relative link and `#anchor` in the documents resolves, with GitHub's anchors;
//! - every option and subcommand of `scripts/*.sh`, `traces`, `traffic` and `launcher` quoted in
//!   the documents is one their `--help` lists;
//! - every pointer to a file or a section, in the documents or in a comment of the code, names one
//!   that exists;
//! - the commands docs/testing.md gives as CI's are `.ci/run`'s;
//! - the figures copied from the benchmark report (README.md, docs/deploy.md, the Kubernetes
//!   manifests) are the report's, as `scripts/bench.sh --update-docs` writes them.
//!
//! Each also checks that it found something to check, so that none can pass by reading nothing.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use e2e_tests::project_root;
use launcher::paths;

/// The documents a user reads, from the project root.
fn documents() -> Vec<String> {
    let mut documents = vec!["README.md".to_owned(), "keys/README.md".to_owned()];
    documents.extend(files_under("docs", &["md"]));
    assert!(documents.len() > 5, "found the documents: {documents:?}");
    documents
}

/// The files under `dir` (from the project root) whose names end in one of `extensions`, sorted,
/// as paths from the project root.
fn files_under(dir: &str, extensions: &[&str]) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, extensions: &[&str], out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                // Build output and installed tools are not the project's.
                if !matches!(name.as_str(), "target" | "node_modules" | ".git" | ".tools") {
                    walk(root, &path, extensions, out);
                }
            } else if extensions
                .iter()
                .any(|ext| name.ends_with(&format!(".{ext}")))
            {
                let relative = path.strip_prefix(root).expect("under the root");
                out.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    let root = project_root();
    let mut out = Vec::new();
    walk(&root, &root.join(dir), extensions, &mut out);
    out.sort();
    out
}

fn read(file: &str) -> String {
    std::fs::read_to_string(project_root().join(file))
        .unwrap_or_else(|error| panic!("{file}: {error}"))
}

/// Fails with every problem found, one a line.
fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problems:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

// --- environment variables -------------------------------------------------------------------

/// The binaries that list the variables they read in their `--help`, each with its default, from
/// one declaration beside the code that reads them (`platform::settings::Variable`): the four
/// services and the launcher.
fn binaries_with_settings() -> Vec<&'static str> {
    let mut binaries: Vec<&str> = e2e_tests::SERVICES.iter().map(|s| s.binary).collect();
    binaries.push("launcher");
    binaries
}

/// A variable a binary's `--help` lists, and the default it gives (`[default: 3600]`).
#[derive(Debug)]
struct Listed {
    binary: &'static str,
    name: String,
    default: Option<String>,
}

/// The variables `help` lists: its lines that start with two spaces and a variable's name, as
/// `platform::settings::help_line` writes them (clap's own lines start with a flag, a
/// subcommand or more spaces).
fn listed_in(binary: &'static str, help: &str) -> Vec<Listed> {
    help.lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter_map(|line| {
            let name = line.split_whitespace().next()?;
            if line.starts_with(' ') || !is_variable_name(name) {
                return None;
            }
            let default = line
                .rsplit_once("[default: ")
                .and_then(|(_, default)| default.strip_suffix(']'))
                .map(str::to_owned);
            Some(Listed {
                binary,
                name: name.to_owned(),
                default,
            })
        })
        .collect()
}

/// What the binaries' `--help` lists.
fn variables_the_help_lists() -> Vec<Listed> {
    let listed: Vec<Listed> = binaries_with_settings()
        .into_iter()
        .flat_map(|binary| {
            let path = paths::binary(binary).unwrap_or_else(|error| panic!("{error}"));
            listed_in(binary, &help(&path, &[]))
        })
        .collect();
    assert!(
        listed.len() > 100,
        "the --help pages list few variables: {listed:?}"
    );
    listed
}

/// Where [`Reads`] says a variable listed by `binary`'s `--help` is read: its crate.
fn crate_of(binary: &str) -> String {
    match binary.strip_suffix("-service") {
        Some(service) => format!("services/{service}/--help"),
        None => format!("tools/{binary}/--help"),
    }
}

/// The functions (and closures) the code reads a variable through, by name, with the variable's
/// name as their first argument: `var("HOST")`, `parse_var("PORT", 3001)`, `positive("...", 5)`,
/// `port("MONGO_PORT", 27017)`, `std::env::var_os("NX_27017_BIN")`. A new way of reading a
/// variable must be added here, or the test cannot see what it reads.
const READERS: [&str; 7] = [
    "var",
    "var_os",
    "env",
    "parse_var",
    "positive",
    "port",
    "required_var",
];

/// Variables the binaries read that are the system's, not settings of this project.
const SYSTEM_VARIABLES: [&str; 1] = ["PATH"];

/// `NAME`-shaped: an upper-case letter, then upper-case letters, digits and underscores.
fn is_variable_name(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_uppercase())
        && !text.ends_with('_')
        && text
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The string literal at the start of `text` (which starts just after its opening quote).
fn literal(text: &str) -> Option<&str> {
    text.find('"').map(|end| &text[..end])
}

/// The code of a Rust file that ships: without its unit tests (a `#[cfg(test)]` module, last in
/// the file by the project's habit) and without comment lines, which may quote code that is not
/// there.
fn shipped_code(text: &str) -> String {
    let before_tests = text.split("#[cfg(test)]").next().unwrap_or_default();
    before_tests
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifier that ends just before byte `end` of `text`.
fn identifier_before(text: &str, end: usize) -> &str {
    let start = text[..end]
        .char_indices()
        .rfind(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    &text[start..end]
}

/// A variable the code reads, where, and the default it falls back to when that is a literal.
#[derive(Debug, Default)]
struct Reads {
    /// Variable → the files that read it.
    by: BTreeMap<String, BTreeSet<String>>,
    /// Variable → its default as written in the code (`3600`, `blog-authen`, `false`).
    defaults: BTreeMap<String, String>,
}

impl Reads {
    fn add(&mut self, name: &str, file: &str) {
        if is_variable_name(name) && !SYSTEM_VARIABLES.contains(&name) {
            self.by
                .entry(name.to_owned())
                .or_default()
                .insert(file.to_owned());
        }
    }
}

/// What the binaries (services/*/src, tools/*/src) read, found in three shapes:
/// 1. a call of one of [`READERS`] with the name as a literal, and the default that follows it
///    when it is a literal: the call's second argument (`parse_var("X", 3600u64)`) or an
///    `.unwrap_or_else(|| "..."` after it;
/// 2. a name held in a constant or a field named for it: `const PUBLIC_KEY_VARIABLE: &str = "..."`,
///    `port_variable: "AUTHOR_PORT"`;
/// 3. a constant array of names, `const ENDPOINT: [&str; 2] = ["OTEL_..._ENDPOINT", ...]`, which is
///    how otlp.rs lists a signal's variable beside the general one.
fn variables_the_binaries_read() -> Reads {
    let mut reads = Reads::default();
    let mut files = files_under("services", &["rs"]);
    files.extend(files_under("tools", &["rs"]));
    files.retain(|file| file.contains("/src/"));
    for file in &files {
        scan(&shipped_code(&read(file)), file, &mut reads);
    }
    // What the code reads without naming it (the OpenTelemetry SDK reads the sampler's and the
    // batch processors' variables, tracing-subscriber `RUST_LOG`) is declared all the same.
    for listed in variables_the_help_lists() {
        reads.add(&listed.name, &crate_of(listed.binary));
    }
    reads
}

/// Adds the variables `code` (of `file`) reads, in the shapes [`variables_the_binaries_read`] lists.
fn scan(code: &str, file: &str, reads: &mut Reads) {
    {
        // 1. reader calls.
        for (at, _) in code.match_indices("(\"") {
            let function = identifier_before(code, at);
            if !READERS.contains(&function) {
                continue;
            }
            let rest = &code[at + 2..];
            let Some(name) = literal(rest) else { continue };
            reads.add(name, file);
            let after = &rest[name.len() + 1..];
            let default = if let Some(argument) = after.strip_prefix(", ") {
                let argument = argument.split([')', ',']).next().unwrap_or_default();
                let number = argument // without its type suffix: `3600u64`
                    .split(|c: char| c.is_ascii_alphabetic())
                    .next()
                    .unwrap_or_default();
                if argument == "true" || argument == "false" {
                    Some(argument.to_owned())
                } else if !number.is_empty()
                    && number.chars().all(|c| c.is_ascii_digit() || c == '_')
                {
                    Some(number.replace('_', ""))
                } else {
                    None
                }
            } else {
                after
                    .strip_prefix(").unwrap_or_else(|| \"")
                    .and_then(literal)
                    .map(str::to_owned)
            };
            if let Some(default) = default {
                reads.defaults.insert(name.to_owned(), default);
            }
        }
        // 2. named constants and fields.
        for marker in ["_variable: \"", "_VARIABLE: &str = \""] {
            for (at, _) in code.match_indices(marker) {
                if let Some(name) = literal(&code[at + marker.len()..]) {
                    reads.add(name, file);
                }
            }
        }
        // 3. constant arrays of names.
        for (at, _) in code.match_indices("const ") {
            let declaration = &code[at..];
            let Some(body_start) = declaration.find("] = [") else {
                continue;
            };
            // `const NAME: [&str; N] = [` (or `[&'static str; N]`), on one line.
            let head = &declaration[..body_start];
            if !(head.contains(": [&") && head.contains("str; ")) || head.contains('\n') {
                continue;
            }
            let body = &declaration[body_start + 5..];
            let body = &body[..body.find(']').unwrap_or(body.len())];
            let names: Vec<&str> = body.split('"').skip(1).step_by(2).collect();
            if !names.is_empty() && names.iter().all(|name| is_variable_name(name)) {
                for name in names {
                    reads.add(name, file);
                }
            }
        }
    }
}

#[test]
fn the_scan_finds_a_variable_in_each_shape_it_knows() {
    let code = r#"
        const CERTIFICATE: [&str; 3] = [
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_CLIENT_KEY",
        ];
        const NOT_VARIABLES: [&'static str; 2] = ["db.mongodb.lsid", "server.type"];
        const PUBLIC_KEY_VARIABLE: &str = "JWT_PUBLIC_KEY";
        let service = Service { port_variable: "AUTHOR_PORT" };
        let ttl = parse_var("JWT_TTL_SECONDS", 3_600u64)?;
        let uri = var("MONGODB_URI").unwrap_or_else(|| "mongodb://localhost:27017".to_owned());
        let width = width("SERVICE");
    "#;
    let mut reads = Reads::default();
    scan(code, "example.rs", &mut reads);
    let found: Vec<&str> = reads.by.keys().map(String::as_str).collect();
    assert_eq!(
        found,
        [
            "AUTHOR_PORT",
            "JWT_PUBLIC_KEY",
            "JWT_TTL_SECONDS",
            "MONGODB_URI",
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_CLIENT_KEY",
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
        ]
    );
    assert_eq!(reads.defaults["JWT_TTL_SECONDS"], "3600");
    assert_eq!(reads.defaults["MONGODB_URI"], "mongodb://localhost:27017");
}

/// The `` `NAME` `` code spans of a markdown text that look like variables, with their lines.
fn quoted_variables(text: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for (index, span) in line.split('`').enumerate() {
            // Odd pieces are inside backticks; a span may hold several (`A` / `B`) or an
            // assignment (`OTEL_SDK_DISABLED=true`).
            if index % 2 == 1 {
                for word in span.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                    if is_variable_name(word) && word.contains('_')
                        || matches!(word, "PORT" | "HOST")
                    {
                        found.push((word.to_owned(), number + 1));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn every_variable_a_binary_reads_is_in_the_configuration_with_the_default_the_code_uses() {
    let reads = variables_the_binaries_read();
    // The scan must see each of its shapes: a reader call, a named field, an array in otlp.rs.
    for expected in [
        "MONGODB_URI",
        "AUTHOR_PORT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ] {
        assert!(
            reads.by.contains_key(expected),
            "the scan found no {expected}: {reads:?}"
        );
    }
    assert!(
        reads.defaults.len() >= 5,
        "the scan found few defaults: {:?}",
        reads.defaults
    );

    let configuration = read("docs/configuration.md");
    let documented: BTreeSet<String> = quoted_variables(&configuration)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let mut problems = Vec::new();
    for (name, files) in &reads.by {
        if !documented.contains(name) {
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            problems.push(format!(
                "{name} (read by {}) is not in docs/configuration.md",
                files.join(", ")
            ));
        }
    }
    // A default is checked against the table's rows that name the variable.
    for (name, default) in &reads.defaults {
        let quoted = format!("`{name}`");
        let rows: Vec<&str> = configuration
            .lines()
            .filter(|line| line.starts_with('|') && line.contains(&quoted))
            .collect();
        if !rows.is_empty() && !rows.iter().any(|row| row.contains(default.as_str())) {
            problems.push(format!(
                "{name}: the code's default is {default:?}, which docs/configuration.md's row does not give"
            ));
        }
    }
    // A variable that one service alone reads is listed for that service alone.
    let mut one_service_checked = 0;
    for (name, files) in &reads.by {
        let crates: BTreeSet<&str> = files
            .iter()
            .filter_map(|file| {
                file.split('/')
                    .nth(1)
                    .filter(|_| file.starts_with("services/"))
            })
            .collect();
        let [service] = crates.into_iter().collect::<Vec<_>>()[..] else {
            continue;
        };
        if service == "platform" || files.iter().any(|file| !file.starts_with("services/")) {
            continue;
        }
        let quoted = format!("`{name}`");
        for row in configuration
            .lines()
            .filter(|line| line.starts_with('|') && line.contains(&quoted))
        {
            one_service_checked += 1;
            let used_by = row.split('|').nth(2).unwrap_or_default().trim();
            if used_by != service {
                problems.push(format!(
                    "{name}: read by {service} alone, but docs/configuration.md lists it for {used_by:?}"
                ));
            }
        }
    }
    assert!(
        one_service_checked > 0,
        "found no variable that one service alone reads"
    );
    assert_no_problems("variables the binaries read", &problems);
}

/// The twin a signal has of a general exporter variable (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), as
/// the general one (`OTEL_EXPORTER_OTLP_ENDPOINT`), which `--help` lists for the three.
fn general_of_twin(name: &str) -> String {
    name.replacen("OTEL_EXPORTER_OTLP_TRACES_", "OTEL_EXPORTER_OTLP_", 1)
        .replacen("OTEL_EXPORTER_OTLP_LOGS_", "OTEL_EXPORTER_OTLP_", 1)
}

#[test]
fn every_variable_a_binary_lists_in_its_help_is_in_the_configuration_with_its_default() {
    let listed = variables_the_help_lists();
    let reads = variables_the_binaries_read();
    let configuration = read("docs/configuration.md");
    let mut problems = Vec::new();
    let mut defaults_checked = 0;
    for Listed {
        binary,
        name,
        default,
    } in &listed
    {
        let quoted = format!("`{name}`");
        let rows: Vec<&str> = configuration
            .lines()
            .filter(|line| line.starts_with('|') && line.contains(&quoted))
            .collect();
        if rows.is_empty() {
            problems.push(format!(
                "{name} ({binary} --help) has no row in docs/configuration.md"
            ));
        }
        let Some(default) = default else { continue };
        defaults_checked += 1;
        if !rows.is_empty() && !rows.iter().any(|row| row.contains(default.as_str())) {
            problems.push(format!(
                "{name}: {binary} --help gives the default {default:?}, which docs/configuration.md's row does not"
            ));
        }
        // The declaration beside the code and the code itself give the same default.
        if let Some(in_code) = reads.defaults.get(name)
            && in_code != default
        {
            problems.push(format!(
                "{name}: {binary} --help gives the default {default:?}, the code {in_code:?}"
            ));
        }
    }
    assert!(
        defaults_checked > 30,
        "checked only {defaults_checked} defaults"
    );
    // And the other way: what a service reads, its --help lists (a signal's twin of an exporter
    // variable under the general one).
    let listed_names: BTreeSet<&str> = listed.iter().map(|l| l.name.as_str()).collect();
    for (name, files) in &reads.by {
        let by_a_service = files
            .iter()
            .any(|file| file.starts_with("services/") && file.ends_with(".rs"));
        if by_a_service && !listed_names.contains(general_of_twin(name).as_str()) {
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            problems.push(format!(
                "{name} (read by {}) is in no service's --help",
                files.join(", ")
            ));
        }
    }
    assert_no_problems("variables the binaries' --help lists", &problems);
}

/// Names in the documents that are not variables of ours: gRPC status codes, the walkthrough's
/// shell variables, and variables that other programs read (cargo, pm2, docker compose, and the
/// colour conventions `traces show` follows through its terminal library).
const NOT_OURS: [&str; 16] = [
    "ABORTED",
    "CANCELLED",
    "DATA_LOSS",
    "DEADLINE_EXCEEDED",
    "INVALID_ARGUMENT",
    "OUT_OF_RANGE",
    "RESOURCE_EXHAUSTED",
    "UNAVAILABLE",
    "ADMIN_TOKEN",
    "READER_TOKEN",
    "WRITER_TOKEN",
    "CARGO_TARGET_DIR",
    "PM2_HOME",
    "PM2_LOG_DIR",
    "COMPOSE_FILE",
    "NO_COLOR",
];

/// The lines of the repository's scripts, tests and deployment files that are not comments: a
/// variable named there is one the scripts set or read, or a test reads.
fn code_outside_the_binaries() -> String {
    let mut files = files_under("scripts", &["sh", "py"]);
    files.extend(files_under("tests", &["rs"]));
    files.extend(files_under("deploy", &["yaml"]));
    files.extend(
        [
            "docker-compose.yml",
            "docker-compose.production.yml",
            "ecosystem.config.js",
            "Dockerfile",
            ".ci/run",
        ]
        .map(str::to_owned),
    );
    // This file quotes names in its lists; they do not count as read.
    files.retain(|file| file != "tests/docs.rs");
    files
        .iter()
        .flat_map(|file| {
            read(file)
                .lines()
                .filter(|line| {
                    let line = line.trim_start();
                    !(line.starts_with('#') || line.starts_with("//"))
                })
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_variable_the_documents_name_is_read_by_something() {
    let reads = variables_the_binaries_read();
    let elsewhere = code_outside_the_binaries();
    let mut problems = Vec::new();
    let mut checked = 0;
    for document in documents() {
        for (name, line) in quoted_variables(&read(&document)) {
            checked += 1;
            let named_in_code = elsewhere
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|word| word == name);
            if !(reads.by.contains_key(&name) || named_in_code || NOT_OURS.contains(&name.as_str()))
            {
                problems.push(format!(
                    "{document}:{line}: {name} is read by nothing in the repository"
                ));
            }
        }
    }
    assert!(
        checked > 50,
        "found only {checked} variables in the documents"
    );
    problems.dedup();
    assert_no_problems("variables the documents name", &problems);
}

// --- links and anchors -----------------------------------------------------------------------

/// The lines of a markdown text outside fenced code blocks, with their numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            lines.push((number + 1, line));
        }
    }
    lines
}

/// The lines of a markdown text inside fenced code blocks, and its inline code spans.
fn code_of(text: &str) -> Vec<(usize, String)> {
    let mut fenced = false;
    let mut code = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if fenced {
            code.push((number + 1, line.to_owned()));
        } else {
            for span in line.split('`').skip(1).step_by(2) {
                code.push((number + 1, span.to_owned()));
            }
        }
    }
    code
}

/// GitHub's anchor for a heading: its text as rendered (no markup), lower-cased, without
/// punctuation but `-` and `_`, spaces turned into `-`; a repeated one gets `-1`, `-2`, ...
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = BTreeSet::new();
    for (_, line) in prose_lines(markdown) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let slug = slug(&rendered(heading.trim()));
        let count = seen.entry(slug.clone()).or_insert(0);
        anchors.insert(if *count == 0 {
            slug.clone()
        } else {
            format!("{slug}-{count}")
        });
        *count += 1;
    }
    anchors
}

/// A heading's text without its markup: links' text kept, `*`, `_` emphasis and backticks gone.
fn rendered(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find("](").zip(after.find(')')) {
            Some((close, end)) if close < end => {
                text.push_str(&after[..close]);
                rest = &after[end + 1..];
            }
            _ => {
                text.push('[');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text.replace(['`', '*'], "")
}

fn slug(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The targets of the markdown links and images of a text's prose: `[text](target)`.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in prose_lines(text) {
        // Inline code may hold `](` that is no link.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        for (at, _) in prose.match_indices("](") {
            let target = &prose[at + 2..];
            if let Some(end) = target.find(')') {
                found.push((number, target[..end].trim().to_owned()));
            }
        }
    }
    found
}

/// Whether `file#anchor` (from the project root) exists: the file, and the anchor in it.
fn resolves(file: &Path, anchor: Option<&str>) -> Result<(), String> {
    let path = project_root().join(file);
    if !path.exists() {
        return Err(format!("{} does not exist", file.display()));
    }
    match anchor {
        Some(anchor) if path.extension().is_some_and(|ext| ext == "md") => {
            let known = anchors(&std::fs::read_to_string(&path).unwrap_or_default());
            if known.contains(anchor) {
                Ok(())
            } else {
                Err(format!("{} has no section #{anchor}", file.display()))
            }
        }
        _ => Ok(()),
    }
}

/// `a/b/../c` → `a/c`, as a browser resolves a relative link.
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn every_relative_link_and_anchor_in_the_documents_resolves() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for document in documents() {
        let text = read(&document);
        let dir = Path::new(&document).parent().unwrap_or(Path::new(""));
        for (line, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let file = if file.is_empty() {
                PathBuf::from(&document)
            } else {
                normalized(&dir.join(file))
            };
            if let Err(problem) = resolves(&file, anchor) {
                problems.push(format!("{document}:{line}: ({target}): {problem}"));
            }
        }
    }
    assert!(checked > 30, "found only {checked} relative links");
    assert_no_problems("links", &problems);
}

#[test]
fn github_anchors_are_what_github_makes() {
    let text = "# Benchmarks\n## Login — `POST /login` (authen)\n## What tracing costs\n\
                ```\n# not a heading\n```\n## What tracing costs\n### [docs/x.md](docs/x.md), *Settings*\n";
    let anchors = anchors(text);
    let expected = [
        "benchmarks",
        "login--post-login-authen",
        "what-tracing-costs",
        "what-tracing-costs-1",
        "docsxmd-settings",
    ];
    assert_eq!(anchors, expected.map(str::to_owned).into_iter().collect());
}

// --- options and subcommands -----------------------------------------------------------------

/// The tools whose options the documents quote; each prints its options with `--help`, and so
/// does each of its subcommands.
const TOOLS: [&str; 3] = ["traces", "traffic", "launcher"];

/// `program args --help`'s output (stdout and stderr), which must succeed.
fn help(program: &Path, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .arg("--help")
        .current_dir(project_root())
        .output()
        .unwrap_or_else(|error| panic!("{}: {error}", program.display()));
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} {args:?} --help failed:\n{text}",
        program.display()
    );
    text
}

/// The subcommands a clap `--help` lists under `Commands:`, one a line, first word.
fn subcommands(help: &str) -> Vec<&str> {
    help.lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .collect()
}

/// Whether `help` lists `word` as a word of its own (`--out`, not `--output`).
fn lists(help: &str, word: &str) -> bool {
    help.split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '|' | '(' | ')' | '='))
        .any(|piece| piece == word || piece.split('=').next() == Some(word))
}

/// Whether the next word is a command's first: at the start, after a separator or a variable's
/// assignment (`RUST_LOG=debug traces serve`), not an argument (`cargo run -p traffic`) or prose
/// printed by a program (`traces: OTLP/gRPC on ...; traces and ...`).
fn starts_a_command(before: &[&str]) -> bool {
    match before.last() {
        None => true,
        Some(previous) => {
            matches!(
                *previous,
                "|" | "&&" | "||" | ";" | "$" | "(" | "exec" | "sudo" | "time"
            ) || (previous.contains('=')
                && is_variable_name(previous.split('=').next().unwrap_or("")))
        }
    }
}

/// A quoted command line: the program (a `scripts/*.sh` or one of [`TOOLS`]) and its words, up
/// to the end of the command (a pipe, `&&`, `;`, a redirection or a comment).
fn commands_in(code: &str) -> Vec<(String, Vec<String>)> {
    // A shell comment is prose.
    let code = match code.find("# ") {
        Some(at) if at == 0 || code[..at].ends_with(' ') => &code[..at],
        _ => code,
    };
    let words: Vec<&str> = code.split_whitespace().collect();
    let mut commands = Vec::new();
    for (at, word) in words.iter().enumerate() {
        let name = word.rsplit('/').next().unwrap_or(word);
        let program = if word.starts_with("scripts/") && word.ends_with(".sh") {
            word.trim_start_matches("./").to_owned()
        } else if TOOLS.contains(&name) && starts_a_command(&words[..at]) {
            name.to_owned()
        } else {
            continue;
        };
        let args = words[at + 1..]
            .iter()
            .take_while(|word| {
                !matches!(**word, "|" | "&&" | ";" | "#" | "||" | ">" | "2>&1" | "\\")
            })
            .take_while(|word| !word.starts_with('>') && !word.starts_with('#'))
            .map(|word| word.trim_end_matches([',', ';', ')']).to_owned())
            .collect();
        commands.push((program, args));
    }
    commands
}

#[test]
fn every_option_and_subcommand_the_documents_quote_exists() {
    let root = project_root();
    let mut helps: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut checked = 0;
    for document in documents() {
        for (line, code) in code_of(&read(&document)) {
            for (program, args) in commands_in(&code) {
                let path = if program.starts_with("scripts/") {
                    root.join(&program)
                } else {
                    paths::binary(&program).unwrap_or_else(|error| panic!("{error}"))
                };
                if !path.exists() {
                    problems.push(format!("{document}:{line}: {program} does not exist"));
                    continue;
                }
                let top = helps
                    .entry((program.clone(), String::new()))
                    .or_insert_with(|| help(&path, &[]))
                    .clone();
                // A tool's first word, when it is not an option, is a subcommand (`traces show`)
                // if the tool has any; a script's words are its arguments.
                let mut subcommand = String::new();
                let mut rest = args.as_slice();
                let known = subcommands(&top);
                if let Some(first) = args.first()
                    && !program.starts_with("scripts/")
                    && !first.starts_with('-')
                    && !known.is_empty()
                {
                    checked += 1;
                    if known.contains(&first.as_str()) {
                        subcommand = first.clone();
                        rest = &args[1..];
                    } else {
                        problems.push(format!(
                            "{document}:{line}: `{program} {first}`: {program} has no subcommand {first} (it has {})",
                            known.join(", ")
                        ));
                        continue;
                    }
                }
                let options = if program == "scripts/test.sh" {
                    // Its arguments other than its own go to `cargo test`.
                    let cargo_test = helps
                        .entry(("cargo".to_owned(), "test".to_owned()))
                        .or_insert_with(|| help(Path::new(env!("CARGO")), &["test"]))
                        .clone();
                    top + &cargo_test
                } else if subcommand.is_empty() {
                    top
                } else {
                    helps
                        .entry((program.clone(), subcommand.clone()))
                        .or_insert_with(|| help(&path, &[&subcommand]))
                        .clone()
                };
                for option in rest
                    .iter()
                    .filter(|word| word.starts_with('-') && *word != "--")
                {
                    let option = option.split('=').next().unwrap_or(option);
                    checked += 1;
                    if !lists(&options, option) {
                        problems.push(format!(
                            "{document}:{line}: `{program}{}{subcommand} {option}`: its --help lists no {option}",
                            if subcommand.is_empty() { "" } else { " " }
                        ));
                    }
                }
            }
        }
    }
    assert!(
        checked > 20,
        "found only {checked} quoted options and subcommands"
    );
    assert_no_problems("options and subcommands", &problems);
}

/// The commands docs/testing.md says CI runs are the ones `.ci/run` runs, each a `check`.
#[test]
fn the_commands_the_testing_guide_gives_as_ci_are_the_ones_ci_runs() {
    let guide = read("docs/testing.md");
    let section = guide
        .split("\n## Continuous integration")
        .nth(1)
        .expect("docs/testing.md has a section Continuous integration");
    let section = section.split("\n## ").next().unwrap_or_default();
    let quoted: Vec<String> = code_of(section)
        .into_iter()
        .map(|(_, code)| code.trim().to_owned())
        .filter(|code| !code.is_empty() && !code.starts_with('.'))
        .collect();
    let ci: Vec<String> = read(".ci/run")
        .lines()
        .filter_map(|line| line.trim().strip_prefix("check "))
        .filter_map(|check| check.split_once(' ').map(|(_, command)| command.to_owned()))
        .collect();
    assert!(!ci.is_empty(), ".ci/run runs no `check NAME COMMAND`");
    assert_eq!(
        quoted, ci,
        "docs/testing.md's CI commands against .ci/run's"
    );
}

// --- pointers to files and sections ----------------------------------------------------------

/// The directories whose files the code and the documents point into.
const TOP_DIRS: [&str; 8] = [
    "docs/",
    "tests/",
    "scripts/",
    "services/",
    "tools/",
    "deploy/",
    "keys/",
    ".ci/",
];

/// The top-level files they point to.
const TOP_FILES: [&str; 6] = [
    "README.md",
    "Dockerfile",
    "docker-compose.yml",
    "docker-compose.production.yml",
    "ecosystem.config.js",
    "Cargo.toml",
];

/// The text in which a file's pointers are written: all of a document or a script, the comments
/// of code (whose strings name files it makes, which need not exist yet).
fn pointer_text(file: &str) -> String {
    let text = read(file);
    let whole = [".md", ".sh", ".py"].iter().any(|ext| file.ends_with(ext));
    if whole {
        return text;
    }
    text.lines()
        .filter_map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") || trimmed.starts_with('#') || trimmed.starts_with('*') {
                Some(trimmed)
            } else {
                line.find(" // ").map(|at| &line[at..])
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The files a pointer may be written in.
fn files_with_pointers() -> Vec<String> {
    let mut files = documents();
    for dir in ["services", "tools", "tests", "scripts", "deploy"] {
        files.extend(files_under(
            dir,
            &["rs", "sh", "py", "js", "yaml", "yml", "toml"],
        ));
    }
    files.extend(
        TOP_FILES
            .iter()
            .filter(|file| !file.ends_with(".md"))
            .map(|f| (*f).to_owned()),
    );
    files.push(".ci/run".to_owned());
    files
}

/// The file a pointer names, from the project root: a path (`docs/tracing.md`), or a document's
/// bare name (`tracing.md`, `README`) beside the pointing file, in docs/, or at the root.
fn pointed_file(name: &str, from: &str) -> Option<PathBuf> {
    let name = if name == "README" { "README.md" } else { name };
    let beside = Path::new(from).parent().unwrap_or(Path::new("")).join(name);
    [
        normalized(&beside),
        PathBuf::from("docs").join(name),
        PathBuf::from(name),
    ]
    .into_iter()
    .find(|candidate| project_root().join(candidate).exists())
}

#[test]
fn every_pointer_to_a_file_or_a_section_names_one_that_exists() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in files_with_pointers() {
        if file == "tests/docs.rs" {
            continue; // its own examples
        }
        let text = pointer_text(&file);
        for (number, line) in text.lines().enumerate() {
            // Where in the file: the line number for documents and scripts (whole text).
            let place = if [".md", ".sh", ".py"].iter().any(|ext| file.ends_with(ext)) {
                format!("{file}:{}", number + 1)
            } else {
                file.clone()
            };
            let words = line.split(|c: char| {
                c.is_whitespace() || matches!(c, '(' | ')' | '`' | '[' | ']' | '\'' | '<' | '>')
            });
            for word in words {
                let word = word.trim_end_matches(['.', ',', ':', ';', '"', '*']);
                let word = word.trim_start_matches(['"', '*']);
                let (path, anchor) = match word.split_once('#') {
                    Some((path, anchor)) => (path, Some(anchor)),
                    None => (word, None),
                };
                let is_path = TOP_DIRS
                    .iter()
                    .any(|dir| path.starts_with(dir) && path.len() > dir.len())
                    || TOP_FILES.contains(&path);
                // Patterns, placeholders and paths built at run time are not pointers.
                if !is_path || path.contains(['{', '*', '$', '<', '…', '|']) || path.contains("...")
                {
                    continue;
                }
                checked += 1;
                if made_at_run_time(path) {
                    continue;
                }
                if let Err(problem) = resolves(Path::new(path), anchor.filter(|a| !a.is_empty())) {
                    problems.push(format!("{place}: {word}: {problem}"));
                }
            }
            // A section named after its document: `tracing.md, "What tracing costs"`,
            // `README, *Failed logins*`, `api.md "Failed logins"`.
            for (at, _) in line.match_indices([',', ' ']) {
                let before = identifier_path_before(line, at);
                if !(before.ends_with(".md") || before == "README") {
                    continue;
                }
                let after = line[at..].trim_start_matches([',', ' ']);
                let title = ['"', '*'].iter().find_map(|quote| {
                    after
                        .strip_prefix(*quote)
                        .and_then(|rest| rest.find(*quote).map(|end| &rest[..end]))
                });
                let Some(title) = title.filter(|t| !t.is_empty()) else {
                    continue;
                };
                checked += 1;
                let Some(target) = pointed_file(before, &file) else {
                    problems.push(format!("{place}: {before}, {title:?}: no such document"));
                    continue;
                };
                // A section is a heading, or a paragraph named in bold (`**Failed logins** are`).
                let anchor = slug(&rendered(title));
                let named_paragraph = std::fs::read_to_string(project_root().join(&target))
                    .is_ok_and(|text| text.contains(&format!("**{title}**")));
                if let Err(problem) = resolves(&target, Some(&anchor))
                    && !named_paragraph
                {
                    problems.push(format!("{place}: {before}, {title:?}: {problem}"));
                }
            }
        }
    }
    assert!(checked > 50, "found only {checked} pointers");
    problems.dedup();
    assert_no_problems("pointers to files and sections", &problems);
}

/// Whether git ignores `path`: the keys, secrets and data the scripts make, which a fresh clone
/// does not hold and a pointer may still name.
fn made_at_run_time(path: &str) -> bool {
    // The directory of a key rotation's new pair, which keys/README.md has the operator make;
    // git ignores the keys in it, not the directory.
    const ROTATION_DIR: &str = "keys/next";
    if path.trim_end_matches('/') == ROTATION_DIR {
        return true;
    }
    Command::new("git")
        .args(["check-ignore", "--quiet", "--no-index", path])
        .current_dir(project_root())
        .status()
        .is_ok_and(|status| status.success())
}

/// The path-like word (`docs/tracing.md`, `README`) that ends at byte `end` of `line`.
fn identifier_path_before(line: &str, end: usize) -> &str {
    let start = line[..end]
        .char_indices()
        .rfind(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')))
        .map_or(0, |(i, c)| i + c.len_utf8());
    &line[start..end]
}

// --- figures from the benchmark report -------------------------------------------------------

#[test]
fn the_figures_copied_from_the_benchmark_report_are_the_reports() {
    let output = Command::new("python3")
        .args(["scripts/bench/docs.py", "--check"])
        .current_dir(project_root())
        .output()
        .expect("python3 runs scripts/bench/docs.py");
    assert!(
        output.status.success(),
        "the generated figures differ from the report (run scripts/bench.sh --update-docs):\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
