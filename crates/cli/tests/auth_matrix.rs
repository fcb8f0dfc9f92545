//! The access-control matrix over HTTP: every kind of grant (roles on one repository, on a
//! `prefix/*` pattern and on the whole registry, their ACR names, and scope-map tokens)
//! against every repository endpoint, on the repository granted, on another one and on one
//! below the pattern, with basic credentials and with bearer tokens from `/token`.
//!
//! Expectations come from a small model of the documented permissions written here, not
//! from the server's code: a cell passes only when the status and error code match exactly
//! (401 `UNAUTHORIZED` vs 403 `DENIED`). Refused writes must leave nothing behind. Every
//! failing cell is reported at once, named by principal, credentials, action and
//! repository.

mod support;
mod support_http;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{json, Value};
use support::Server;
use support_http::*;

const PULL: u8 = 1;
const PUSH: u8 = 2;
const DELETE: u8 = 4;
const META_READ: u8 = 8;
const META_WRITE: u8 = 16;
/// The actions a Docker token can carry.
const DOCKER: u8 = PULL | PUSH | DELETE;

const REPOS: [&str; 3] = ["team/app", "other/app", "team/sub/app"];

/// What a role allows, as documented.
fn role_actions(role: &str) -> u8 {
    match role.to_ascii_lowercase().as_str() {
        "pull" | "acrpull" => PULL | META_READ,
        "push" | "acrpush" => PULL | PUSH | META_READ | META_WRITE,
        "delete" | "acrdelete" => DELETE | META_READ,
        "owner" => PULL | PUSH | DELETE | META_READ | META_WRITE,
        other => panic!("no such role {other}"),
    }
}

/// What a scope-map action path allows.
fn scope_map_action(path: &str) -> u8 {
    match path {
        "content/read" => PULL,
        "content/write" => PUSH,
        "content/delete" => DELETE,
        "metadata/read" => META_READ,
        "metadata/write" => META_WRITE,
        other => panic!("no such scope map action {other}"),
    }
}

/// Whether a grant's pattern (`*`, `prefix/*` or a name) covers `repo`.
fn covers(pattern: &str, repo: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => repo.len() > prefix.len() && repo.starts_with(prefix),
        None => pattern == repo,
    }
}

/// A principal of the matrix and what it was granted.
struct Subject {
    name: String,
    /// (pattern, actions)
    grants: Vec<(String, u8)>,
    secret: String,
}

impl Subject {
    fn held(&self, repo: &str) -> u8 {
        self.grants
            .iter()
            .filter(|(pattern, _)| covers(pattern, repo))
            .fold(0, |all, (_, actions)| all | actions)
    }
}

/// One repository endpoint of the matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Act {
    PullManifest,
    PullBlob,
    HeadManifest,
    TagsList,
    PushBlob,
    PushManifest,
    DeleteManifest,
    DeleteBlob,
}

const ACTS: [Act; 8] = [
    Act::PullManifest,
    Act::PullBlob,
    Act::HeadManifest,
    Act::TagsList,
    Act::PushBlob,
    Act::PushManifest,
    Act::DeleteManifest,
    Act::DeleteBlob,
];

impl Act {
    /// Any one of these actions admits the request.
    fn required(self) -> u8 {
        match self {
            Act::PullManifest | Act::PullBlob | Act::HeadManifest => PULL,
            Act::TagsList => PULL | META_READ,
            Act::PushBlob | Act::PushManifest => PUSH,
            Act::DeleteManifest | Act::DeleteBlob => DELETE,
        }
    }

    /// The actions a client asks `/token` for before this request, as docker does.
    fn token_actions(self) -> &'static str {
        match self {
            Act::PushBlob | Act::PushManifest => "pull,push",
            Act::DeleteManifest | Act::DeleteBlob => "delete",
            _ => "pull",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Auth {
    Basic,
    /// A token asked for exactly the endpoint's actions.
    Bearer,
    /// A token asked for pull only, used on every endpoint: where the principal holds
    /// more, the client must be told to fetch a better token.
    BearerPullOnly,
}

/// What the model says a cell must answer.
#[derive(Debug, PartialEq)]
enum Expect {
    Allow,
    /// 401 UNAUTHORIZED with `error="insufficient_scope"` in the challenge.
    InsufficientScope,
    /// 403 DENIED.
    Denied,
}

fn expected(subject: &Subject, act: Act, repo: &str, auth: Auth) -> Expect {
    let held = subject.held(repo);
    if auth == Auth::Basic {
        return if held & act.required() != 0 {
            Expect::Allow
        } else {
            Expect::Denied
        };
    }
    let asked = if auth == Auth::BearerPullOnly {
        PULL
    } else {
        docker_bits(act.token_actions())
    };
    let token = held & DOCKER & asked;
    if token & act.required() != 0 {
        Expect::Allow
    } else if held & DOCKER & act.required() != 0 {
        // Only an action a token can carry is worth a new token; a principal that holds
        // the endpoint only through a metadata permission is refused outright.
        Expect::InsufficientScope
    } else {
        Expect::Denied
    }
}

fn docker_bits(actions: &str) -> u8 {
    actions.split(',').fold(0, |all, a| {
        all | match a {
            "pull" => PULL,
            "push" => PUSH,
            "delete" => DELETE,
            _ => 0,
        }
    })
}

/// A principal to create: name, `POST /api/v1/principals` body, and its grants.
type SubjectSpec = (String, Value, Vec<(String, u8)>);

/// The matrix's principals: every role on every kind of scope, the ACR role names, and
/// scope-map tokens.
fn subject_specs() -> Vec<SubjectSpec> {
    let mut specs = Vec::new();
    let scopes = [
        ("exact", "team/app"),
        ("pattern", "team/*"),
        ("registry", "*"),
    ];
    for role in ["pull", "push", "delete", "owner"] {
        for (label, scope) in scopes {
            let name = format!("{role}-{label}");
            let body = json!({
                "name": name,
                "kind": "service_principal",
                "roles": [{"role": role, "scope": scope}],
            });
            specs.push((name, body, vec![(scope.to_string(), role_actions(role))]));
        }
    }
    for (role, scope) in [
        ("AcrPull", "team/*"),
        ("AcrPush", "team/app"),
        ("AcrDelete", "*"),
    ] {
        let name = format!("{}-acr", role.to_ascii_lowercase());
        let body = json!({
            "name": name,
            "kind": "user",
            "roles": [{"role": role, "scope": scope}],
        });
        specs.push((name, body, vec![(scope.to_string(), role_actions(role))]));
    }
    for (label, pattern, path) in [
        ("read", "team/app", "content/read"),
        ("write", "team/app", "content/write"),
        ("delete", "team/app", "content/delete"),
        ("meta", "team/app", "metadata/read"),
        ("pattern-read", "team/*", "content/read"),
    ] {
        let name = format!("token-{label}");
        let body = json!({
            "name": name,
            "kind": "token",
            "scope_map": [format!("repositories/{pattern}/{path}")],
        });
        specs.push((
            name,
            body,
            vec![(pattern.to_string(), scope_map_action(path))],
        ));
    }
    specs
}

async fn create_subjects(owner: &Client) -> Vec<Arc<Subject>> {
    let mut subjects = Vec::new();
    for (name, body, grants) in subject_specs() {
        let secret = owner.create_principal(body).await;
        subjects.push(Arc::new(Subject {
            name,
            grants,
            secret,
        }));
    }
    subjects
}

/// What the owner prepared for one cell: a manifest and a blob to delete.
struct Fixture {
    delete_manifest: String,
    delete_blob: String,
}

struct Cell {
    subject: Arc<Subject>,
    act: Act,
    repo: &'static str,
    auth: Auth,
}

impl Cell {
    fn id(&self) -> String {
        format!(
            "{}/{:?}/{:?}/{}",
            self.subject.name, self.auth, self.act, self.repo
        )
    }
}

/// The base image every repository holds under tag `base`.
fn base_image(repo: &str) -> Image {
    Image::new(&format!("matrix base {repo}"))
}

/// A manifest unique to `cell` over the repository's base blobs.
fn cell_manifest(repo: &str, cell: &str) -> Vec<u8> {
    let base = base_image(repo);
    to_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &base.config),
        "layers": [descriptor(OCI_LAYER, &base.layer)],
        "annotations": {"cell": cell},
    }))
}

/// A tag name for a cell (tags are `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
fn cell_tag(cell: &str) -> String {
    cell.replace('/', "_")
}

/// Runs one cell; `Err` describes how it went wrong.
async fn run_cell(
    owner: &Client,
    caller: &Client,
    cell: &Cell,
    fixture: &Fixture,
    expect: &Expect,
) -> Result<(), String> {
    let id = cell.id();
    let repo = cell.repo;
    let base = base_image(repo);
    let unique_blob = format!("pushed by {id}").into_bytes();
    let manifest = cell_manifest(repo, &format!("push {id}"));
    let tag = cell_tag(&format!("p-{id}"));
    let resp = match cell.act {
        Act::PullManifest => caller.get_manifest(repo, "base", OCI_MANIFEST).await,
        Act::PullBlob => {
            caller
                .get(&format!("/v2/{repo}/blobs/{}", digest(&base.layer)))
                .await
        }
        Act::HeadManifest => caller.head(&format!("/v2/{repo}/manifests/base")).await,
        Act::TagsList => caller.get(&format!("/v2/{repo}/tags/list")).await,
        Act::PushBlob => {
            let start = caller
                .send("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], None)
                .await;
            if start.status == 202 && *expect == Expect::Allow {
                let done = caller
                    .finish(&start.location(), &digest(&unique_blob), &unique_blob)
                    .await;
                check_status(&done, 201)?;
            }
            start
        }
        Act::PushManifest => {
            caller
                .put_manifest(repo, &tag, OCI_MANIFEST, &manifest)
                .await
        }
        Act::DeleteManifest => {
            caller
                .delete(&format!("/v2/{repo}/manifests/{}", fixture.delete_manifest))
                .await
        }
        Act::DeleteBlob => {
            caller
                .delete(&format!("/v2/{repo}/blobs/{}", fixture.delete_blob))
                .await
        }
    };

    match expect {
        Expect::Allow => {
            let status = match cell.act {
                Act::PullManifest | Act::PullBlob | Act::HeadManifest | Act::TagsList => 200,
                Act::PushBlob => 202,
                Act::PushManifest => 201,
                Act::DeleteManifest | Act::DeleteBlob => 202,
            };
            check_status(&resp, status)?;
            match cell.act {
                Act::PullManifest if resp.body != base.manifest => {
                    return Err(format!("wrong manifest bytes: {}", resp.describe()))
                }
                Act::PullBlob if resp.body != base.layer => {
                    return Err(format!("wrong blob bytes: {}", resp.describe()))
                }
                Act::TagsList if !string_list(&resp.json()["tags"]).contains(&"base".into()) => {
                    return Err(format!("tag base not listed: {}", resp.describe()))
                }
                _ => {}
            }
        }
        Expect::Denied => check_error(&resp, 403, "DENIED", None)?,
        Expect::InsufficientScope => {
            check_error(&resp, 401, "UNAUTHORIZED", Some("insufficient_scope"))?
        }
    }

    // What the owner sees afterwards: allowed writes happened, refused ones left nothing.
    let allowed = *expect == Expect::Allow;
    match cell.act {
        Act::PushBlob => {
            let status = owner
                .head(&format!("/v2/{repo}/blobs/{}", digest(&unique_blob)))
                .await
                .status;
            let want = if allowed { 200 } else { 404 };
            if status != want {
                return Err(format!(
                    "owner HEAD of the pushed blob: {status}, want {want}"
                ));
            }
        }
        Act::PushManifest => {
            let status = owner.get_manifest(repo, &tag, OCI_MANIFEST).await.status;
            let want = if allowed { 200 } else { 404 };
            if status != want {
                return Err(format!(
                    "owner GET of the pushed tag: {status}, want {want}"
                ));
            }
        }
        Act::DeleteManifest => {
            let path = format!("/v2/{repo}/manifests/{}", fixture.delete_manifest);
            let status = owner.head(&path).await.status;
            let want = if allowed { 404 } else { 200 };
            if status != want {
                return Err(format!(
                    "owner HEAD of the manifest to delete: {status}, want {want}"
                ));
            }
        }
        Act::DeleteBlob => {
            let path = format!("/v2/{repo}/blobs/{}", fixture.delete_blob);
            let status = owner.head(&path).await.status;
            let want = if allowed { 404 } else { 200 };
            if status != want {
                return Err(format!(
                    "owner HEAD of the blob to delete: {status}, want {want}"
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn check_status(resp: &Resp, status: u16) -> Result<(), String> {
    if resp.status == status {
        Ok(())
    } else {
        Err(format!("want {status}, got {}", resp.describe()))
    }
}

/// Status, the error body's code (not for HEAD, which has no body) and, for 401, a
/// challenge naming the error.
fn check_error(resp: &Resp, status: u16, code: &str, error: Option<&str>) -> Result<(), String> {
    check_status(resp, status)?;
    if resp.method != "HEAD" && !resp.error_codes().iter().any(|c| c == code) {
        return Err(format!("want code {code}: {}", resp.describe()));
    }
    if status == 401 {
        let challenge = resp.header("www-authenticate").unwrap_or_default();
        if !challenge.starts_with("Bearer realm=") {
            return Err(format!("no Bearer challenge: {}", resp.describe()));
        }
        if let Some(error) = error {
            if !challenge.contains(&format!("error=\"{error}\"")) {
                return Err(format!(
                    "challenge lacks error={error}: {}",
                    resp.describe()
                ));
            }
        }
    }
    Ok(())
}

/// Pushes each repository's base image, and for every cell that deletes, its own manifest
/// and blob.
async fn prepare(owner: &Client, cells: &[Cell]) -> HashMap<String, Fixture> {
    for repo in REPOS {
        base_image(repo).push(owner, repo, "base").await;
    }
    let mut fixtures = HashMap::new();
    for cell in cells {
        let id = cell.id();
        let fixture = match cell.act {
            Act::DeleteManifest => {
                let bytes = cell_manifest(cell.repo, &format!("delete {id}"));
                owner
                    .put_manifest(cell.repo, &digest(&bytes), OCI_MANIFEST, &bytes)
                    .await
                    .expect(201);
                Fixture {
                    delete_manifest: digest(&bytes),
                    delete_blob: String::new(),
                }
            }
            Act::DeleteBlob => {
                let bytes = format!("to delete by {id}").into_bytes();
                Fixture {
                    delete_manifest: String::new(),
                    delete_blob: owner.push_blob(cell.repo, &bytes).await,
                }
            }
            _ => continue,
        };
        fixtures.insert(id, fixture);
    }
    fixtures
}

/// Basic credentials and a bearer client per (subject, repository, token actions).
/// (principal, credentials, repository, token actions) → the client to use.
type Callers = HashMap<(String, Auth, &'static str, &'static str), Client>;

async fn callers(server: &Server, subjects: &[Arc<Subject>]) -> Callers {
    let mut callers = HashMap::new();
    for subject in subjects {
        let basic = Client::with_basic(server, &subject.name, &subject.secret);
        for repo in REPOS {
            for actions in ["pull", "pull,push", "delete"] {
                let token = basic
                    .token(&[&format!("repository:{repo}:{actions}")])
                    .await;
                // The token carries exactly what the principal holds of what was asked.
                let granted: Vec<String> = jwt_claims(&token)["access"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|a| a["name"] == repo)
                    .flat_map(|a| string_list(&a["actions"]))
                    .collect();
                let want = subject.held(repo) & DOCKER & docker_bits(actions);
                let got = docker_bits(&granted.join(","));
                assert_eq!(
                    got, want,
                    "{} asked /token for {repo}:{actions} and got {granted:?}",
                    subject.name
                );
                callers.insert(
                    (subject.name.clone(), Auth::Bearer, repo, actions),
                    Client::with_bearer(server, &token),
                );
                callers.insert(
                    (subject.name.clone(), Auth::Basic, repo, actions),
                    basic.clone(),
                );
            }
        }
    }
    callers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_grant_against_every_endpoint_and_repository() {
    let server = Server::start();
    let owner = Client::new(&server);
    let subjects = create_subjects(&owner).await;

    let mut cells = Vec::new();
    for subject in &subjects {
        for act in ACTS {
            for repo in REPOS {
                for auth in [Auth::Basic, Auth::Bearer, Auth::BearerPullOnly] {
                    if auth == Auth::BearerPullOnly && act.token_actions() == "pull" {
                        continue;
                    }
                    cells.push(Cell {
                        subject: subject.clone(),
                        act,
                        repo,
                        auth,
                    });
                }
            }
        }
    }
    let cell_count = cells.len();
    let fixtures = Arc::new(prepare(&owner, &cells).await);
    let callers = Arc::new(callers(&server, &subjects).await);
    let no_fixture = Arc::new(Fixture {
        delete_manifest: String::new(),
        delete_blob: String::new(),
    });

    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for cell in cells {
        let expect = expected(&cell.subject, cell.act, cell.repo, cell.auth);
        *tally.entry(format!("{expect:?}")).or_default() += 1;
        let (owner, fixtures, callers, no_fixture, limit) = (
            owner.clone(),
            fixtures.clone(),
            callers.clone(),
            no_fixture.clone(),
            limit.clone(),
        );
        tasks.spawn(async move {
            let _permit = limit.acquire().await.expect("semaphore");
            let key = match cell.auth {
                Auth::BearerPullOnly => {
                    (cell.subject.name.clone(), Auth::Bearer, cell.repo, "pull")
                }
                auth => (
                    cell.subject.name.clone(),
                    auth,
                    cell.repo,
                    cell.act.token_actions(),
                ),
            };
            let caller = &callers[&key];
            let fixture = fixtures.get(&cell.id()).unwrap_or(&no_fixture);
            run_cell(&owner, caller, &cell, fixture, &expect)
                .await
                .map_err(|err| format!("{} (expected {expect:?}): {err}", cell.id()))
        });
    }
    let mut failures = Vec::new();
    let mut ran = 0;
    while let Some(result) = tasks.join_next().await {
        ran += 1;
        if let Err(err) = result.expect("cell task panicked") {
            failures.push(err);
        }
    }
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {ran} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The model must exercise all three outcomes, or the matrix proves little.
    assert_eq!(tally.len(), 3, "outcomes covered: {tally:?}");
    assert_eq!(ran, cell_count);

    // Nothing refused, and nothing allowed, left an upload behind.
    let uploads = upload_files(&server.data_dir);
    assert!(uploads.is_empty(), "upload files left: {uploads:?}");
}

#[tokio::test]
async fn the_catalog_lists_exactly_what_each_principal_may_see() {
    let server = Server::start();
    let owner = Client::new(&server);
    for repo in REPOS {
        base_image(repo).push(&owner, repo, "base").await;
    }
    let subjects = create_subjects(&owner).await;
    for subject in &subjects {
        let mut want: Vec<&str> = REPOS.into_iter().filter(|r| subject.held(r) != 0).collect();
        want.sort();
        let basic = Client::with_basic(&server, &subject.name, &subject.secret);
        let token = basic.token(&["registry:catalog:*"]).await;
        for (auth, client) in [
            ("basic", basic.clone()),
            ("bearer", Client::with_bearer(&server, &token)),
        ] {
            let resp = client.get("/v2/_catalog").await;
            resp.expect(200);
            let got = string_list(&resp.json()["repositories"]);
            assert_eq!(got, want, "catalog of {} with {auth}", subject.name);
        }
    }
    let everything = owner.get("/v2/_catalog").await;
    assert_eq!(
        string_list(&everything.expect(200).json()["repositories"]),
        ["other/app", "team/app", "team/sub/app"]
    );

    // Without credentials nothing private is revealed.
    let anonymous = Client::anonymous(&server).get("/v2/_catalog").await;
    if anonymous.status == 200 {
        assert_eq!(
            string_list(&anonymous.json()["repositories"]),
            Vec::<String>::new(),
            "{}",
            anonymous.describe()
        );
    } else {
        anonymous.expect_error(401, "UNAUTHORIZED");
    }

    // A public repository appears for everyone, anonymous callers included.
    owner
        .api(
            "PATCH",
            "/api/v1/repositories/other/app",
            Some(json!({"anonymous_pull": true})),
        )
        .await
        .expect(200);
    let pull_exact = &subjects[0];
    assert_eq!(pull_exact.name, "pull-exact");
    let resp = Client::with_basic(&server, &pull_exact.name, &pull_exact.secret)
        .get("/v2/_catalog")
        .await;
    assert_eq!(
        string_list(&resp.expect(200).json()["repositories"]),
        ["other/app", "team/app"]
    );
    let anonymous = Client::anonymous(&server).get("/v2/_catalog").await;
    if anonymous.status == 200 {
        assert_eq!(
            string_list(&anonymous.json()["repositories"]),
            ["other/app"]
        );
    }
}

#[tokio::test]
async fn challenges_name_realm_service_and_scope_exactly() {
    let server = Server::start();
    let owner = Client::new(&server);
    base_image("team/app")
        .push(&owner, "team/app", "base")
        .await;
    let anonymous = Client::anonymous(&server);
    let realm = format!(
        "Bearer realm=\"http://{}/token\",service=\"berth\"",
        server.host()
    );
    let layer = digest(&base_image("team/app").layer);

    let cases = [
        ("GET", "/v2/".to_string(), String::new()),
        (
            "GET",
            "/v2/team/app/manifests/base".into(),
            ",scope=\"repository:team/app:pull\"".into(),
        ),
        (
            "HEAD",
            format!("/v2/team/app/blobs/{layer}"),
            ",scope=\"repository:team/app:pull\"".into(),
        ),
        (
            "GET",
            "/v2/team/app/tags/list".into(),
            ",scope=\"repository:team/app:pull\"".into(),
        ),
        (
            "POST",
            "/v2/team/app/blobs/uploads/".into(),
            ",scope=\"repository:team/app:pull,push\"".into(),
        ),
        (
            "PUT",
            "/v2/team/app/manifests/new".into(),
            ",scope=\"repository:team/app:pull,push\"".into(),
        ),
        (
            "DELETE",
            format!("/v2/team/app/blobs/{layer}"),
            ",scope=\"repository:team/app:delete\"".into(),
        ),
        (
            "DELETE",
            "/v2/team/app/manifests/base".into(),
            ",scope=\"repository:team/app:delete\"".into(),
        ),
    ];
    for (method, path, scope) in &cases {
        let resp = anonymous.send(method, path, &[], None).await;
        resp.expect(401);
        if *method != "HEAD" {
            resp.expect_error(401, "UNAUTHORIZED");
        }
        assert_eq!(
            resp.header("www-authenticate"),
            Some(format!("{realm}{scope}").as_str()),
            "{}",
            resp.describe()
        );
    }

    // A path whose name breaks the grammar (here with a quote) gets no scope, so
    // nothing from the path reaches the header.
    let resp = anonymous
        .send("GET", "/v2/te%22am/app/manifests/base", &[], None)
        .await;
    resp.expect_error(401, "UNAUTHORIZED");
    assert_eq!(
        resp.header("www-authenticate"),
        Some(realm.as_str()),
        "{}",
        resp.describe()
    );

    // A wrong password is refused the same way, and names the failure.
    let bad = Client::with_basic(&server, "owner", "not-the-password");
    let resp = bad.get("/v2/team/app/manifests/base").await;
    resp.expect_error(401, "UNAUTHORIZED");
    assert_eq!(
        resp.header("www-authenticate"),
        Some(
            format!("{realm},scope=\"repository:team/app:pull\",error=\"invalid_token\"").as_str()
        ),
        "{}",
        resp.describe()
    );
    let unknown = Client::with_basic(&server, "nobody", "whatever");
    unknown.get("/v2/").await.expect_error(401, "UNAUTHORIZED");
    bad.token_response(&["repository:team/app:pull"])
        .await
        .expect_error(401, "UNAUTHORIZED");

    // The owner's password works on /v2/ directly, and nothing was changed by the refusals.
    owner.get("/v2/").await.expect(200);
    assert_eq!(owner.tags("team/app").await, Some(vec!["base".to_string()]));
    assert!(upload_files(&server.data_dir).is_empty());
}

#[tokio::test]
async fn a_mount_from_a_repository_the_caller_cannot_pull_becomes_an_upload() {
    let server = Server::start();
    let owner = Client::new(&server);
    let secret_blob = owner.push_blob("other/app", b"secret layer").await;
    let secret = owner
        .create_principal(json!({
            "name": "pusher",
            "kind": "service_principal",
            "roles": [{"role": "push", "scope": "team/app"}],
        }))
        .await;
    let pusher = Client::with_basic(&server, "pusher", &secret);
    let path = format!("/v2/team/app/blobs/uploads/?mount={secret_blob}&from=other/app");
    let resp = pusher.send("POST", &path, &[], None).await;
    resp.expect(202);
    pusher
        .head(&format!("/v2/team/app/blobs/{secret_blob}"))
        .await
        .expect(404);

    // The owner, who may pull other/app, mounts it.
    owner.send("POST", &path, &[], None).await.expect(201);
    pusher
        .head(&format!("/v2/team/app/blobs/{secret_blob}"))
        .await
        .expect(200);
}
