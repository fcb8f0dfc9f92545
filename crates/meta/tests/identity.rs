//! Identity storage: principals, secrets, roles, signing keys, settings, anonymous pull,
//! federations and the audit log.

mod common;

use std::collections::BTreeMap;

use berth_meta::{AuditEvent, AuditQuery, MetaError, PrincipalKind};
use common::Fixture;

fn entries(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

async fn principal(fx: &Fixture, name: &str) -> i64 {
    fx.store
        .create_principal(name, PrincipalKind::ServicePrincipal, "", None, 1_000)
        .await
        .expect("create principal")
        .id
}

async fn create_repository(fx: &Fixture, name: &str) {
    fx.store
        .link_blob(&common::repo(name), &common::digest(name.as_bytes()), 3, 1)
        .await
        .expect("link blob");
}

fn claims(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(claim, glob)| ((*claim).to_owned(), (*glob).to_owned()))
        .collect()
}

fn event(at: i64, principal: Option<&str>, action: &str, repository: Option<&str>) -> AuditEvent {
    AuditEvent {
        at,
        principal: principal.map(str::to_owned),
        action: action.to_owned(),
        repository: repository.map(str::to_owned),
        digest: None,
        source: Some("10.0.0.1".to_owned()),
        outcome: "success".to_owned(),
        detail: String::new(),
    }
}

#[test]
fn principal_kinds_round_trip_and_reject_unknown_text() {
    for kind in [
        PrincipalKind::User,
        PrincipalKind::ServicePrincipal,
        PrincipalKind::Token,
    ] {
        assert_eq!(PrincipalKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(
        PrincipalKind::ServicePrincipal.as_str(),
        "service_principal"
    );
    assert_eq!(PrincipalKind::parse("User"), None);
    assert_eq!(PrincipalKind::parse(""), None);
    assert_eq!(PrincipalKind::parse("admin"), None);
}

#[tokio::test]
async fn created_principal_reads_back_by_name_and_id() {
    let fx = Fixture::new().await;
    let scope_map = entries(&[
        "repositories/app/content/read",
        "repositories/app/metadata/read",
    ]);

    let created = fx
        .store
        .create_principal(
            "pull-app",
            PrincipalKind::Token,
            "for app",
            Some(&scope_map),
            5,
        )
        .await
        .expect("create");

    assert_eq!(created.name, "pull-app");
    assert_eq!(created.kind, PrincipalKind::Token);
    assert_eq!(created.description, "for app");
    assert_eq!(created.scope_map, Some(scope_map));
    assert!(created.enabled);
    assert_eq!((created.created_at, created.updated_at), (5, 5));
    let by_name = fx.store.principal_by_name("pull-app").await.expect("read");
    assert_eq!(by_name.as_ref(), Some(&created));
    let by_id = fx.store.principal_by_id(created.id).await.expect("read");
    assert_eq!(by_id, Some(created.clone()));
    assert_eq!(
        fx.store.principal_by_name("other").await.expect("read"),
        None
    );
    assert_eq!(
        fx.store
            .principal_by_id(created.id + 1)
            .await
            .expect("read"),
        None
    );
    assert_eq!(fx.store.count_principals().await.expect("count"), 1);
}

#[tokio::test]
async fn duplicate_principal_is_a_conflict_and_keeps_the_original() {
    let fx = Fixture::new().await;
    let original = fx
        .store
        .create_principal("ci", PrincipalKind::ServicePrincipal, "first", None, 1)
        .await
        .expect("create");

    let err = fx
        .store
        .create_principal("ci", PrincipalKind::User, "second", None, 2)
        .await
        .expect_err("name taken");

    assert!(
        matches!(&err, MetaError::Conflict(message) if message == "principal ci already exists"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "principal ci already exists");
    let stored = fx.store.principal_by_name("ci").await.expect("read");
    assert_eq!(stored, Some(original));
    assert_eq!(fx.store.count_principals().await.expect("count"), 1);
}

#[tokio::test]
async fn principals_list_by_name_and_filter_by_kind() {
    let fx = Fixture::new().await;
    let store = &fx.store;
    store
        .create_principal("zed", PrincipalKind::User, "", None, 1)
        .await
        .expect("create");
    store
        .create_principal("build", PrincipalKind::ServicePrincipal, "", None, 1)
        .await
        .expect("create");
    store
        .create_principal("alice", PrincipalKind::User, "", None, 1)
        .await
        .expect("create");
    store
        .create_principal("read", PrincipalKind::Token, "", Some(&[]), 1)
        .await
        .expect("create");

    let names = |records: Vec<berth_meta::PrincipalRecord>| {
        records.into_iter().map(|p| p.name).collect::<Vec<_>>()
    };
    let all = store.list_principals(None).await.expect("list");
    assert_eq!(names(all), ["alice", "build", "read", "zed"]);
    let users = store
        .list_principals(Some(PrincipalKind::User))
        .await
        .expect("list");
    assert_eq!(names(users), ["alice", "zed"]);
    let tokens = store
        .list_principals(Some(PrincipalKind::Token))
        .await
        .expect("list");
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].scope_map, Some(Vec::new()));
    assert_eq!(store.count_principals().await.expect("count"), 4);
}

#[tokio::test]
async fn update_changes_only_the_given_fields() {
    let fx = Fixture::new().await;
    let scope_map = entries(&["repositories/app/content/read"]);
    let created = fx
        .store
        .create_principal("tok", PrincipalKind::Token, "old", Some(&scope_map), 10)
        .await
        .expect("create");

    let disabled = fx
        .store
        .update_principal("tok", None, Some(false), None, 20)
        .await
        .expect("disable");

    assert!(!disabled.enabled);
    assert_eq!(disabled.description, "old");
    assert_eq!(disabled.scope_map, Some(scope_map));
    assert_eq!((disabled.created_at, disabled.updated_at), (10, 20));

    let wider = entries(&[
        "repositories/app/content/read",
        "repositories/app/content/write",
    ]);
    let updated = fx
        .store
        .update_principal("tok", Some("new"), None, Some(&wider), 30)
        .await
        .expect("update");

    assert!(!updated.enabled);
    assert_eq!(updated.description, "new");
    assert_eq!(updated.scope_map, Some(wider));
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.updated_at, 30);
    let stored = fx.store.principal_by_name("tok").await.expect("read");
    assert_eq!(stored, Some(updated));
}

#[tokio::test]
async fn update_of_a_missing_principal_is_not_found_and_creates_nothing() {
    let fx = Fixture::new().await;

    let err = fx
        .store
        .update_principal("ghost", Some("x"), Some(true), None, 1)
        .await
        .expect_err("missing");

    assert!(
        matches!(&err, MetaError::NotFound(message) if message.contains("ghost")),
        "{err:?}"
    );
    assert_eq!(fx.store.count_principals().await.expect("count"), 0);
}

#[tokio::test]
async fn deleting_a_principal_cascades_to_its_records_only() {
    let fx = Fixture::new().await;
    let doomed = principal(&fx, "doomed").await;
    let kept = principal(&fx, "kept").await;
    for id in [doomed, kept] {
        fx.store
            .set_secret(id, 1, "h1", None, 2)
            .await
            .expect("secret");
        fx.store
            .set_secret(id, 2, "h2", None, 2)
            .await
            .expect("secret");
        fx.store
            .assign_role(id, "AcrPull", "app/*", 2)
            .await
            .expect("role");
    }
    let github = claims(&[("sub", "repo:org/app:*")]);
    fx.store
        .create_federation("gh-doomed", "https://issuer", "berth", &github, doomed, 2)
        .await
        .expect("federation");
    fx.store
        .create_federation("gh-kept", "https://issuer", "berth", &github, kept, 2)
        .await
        .expect("federation");

    assert!(fx.store.delete_principal("doomed").await.expect("delete"));

    assert_eq!(fx.store.principal_by_id(doomed).await.expect("read"), None);
    assert!(fx
        .store
        .secrets_of(doomed)
        .await
        .expect("secrets")
        .is_empty());
    assert!(fx.store.roles_of(doomed).await.expect("roles").is_empty());
    let federations = fx.store.list_federations().await.expect("federations");
    assert_eq!(federations.len(), 1);
    assert_eq!(federations[0].name, "gh-kept");
    assert_eq!(fx.count("principal_secrets").await, 2);
    assert_eq!(fx.count("role_assignments").await, 1);
    assert_eq!(fx.count("federations").await, 1);
    assert_eq!(fx.store.secrets_of(kept).await.expect("secrets").len(), 2);
    assert_eq!(fx.store.roles_of(kept).await.expect("roles").len(), 1);

    assert!(!fx
        .store
        .delete_principal("doomed")
        .await
        .expect("delete again"));
    assert_eq!(fx.store.count_principals().await.expect("count"), 1);
}

#[tokio::test]
async fn principal_ids_are_never_reused() {
    let fx = Fixture::new().await;
    let first = principal(&fx, "a").await;
    assert!(fx.store.delete_principal("a").await.expect("delete"));

    let second = principal(&fx, "a").await;

    assert!(second > first, "{second} reuses or precedes {first}");
}

#[tokio::test]
async fn replacing_a_secret_gives_a_new_id_and_the_old_one_is_gone() {
    let fx = Fixture::new().await;
    let id = principal(&fx, "ci").await;
    let first = fx
        .store
        .set_secret(id, 1, "hash-one", Some(9_000), 100)
        .await
        .expect("set");
    assert_eq!(
        (first.principal_id, first.slot, first.hash.as_str()),
        (id, 1, "hash-one")
    );
    assert_eq!((first.expires_at, first.created_at), (Some(9_000), 100));
    assert_eq!(
        fx.store.secret_by_id(first.id).await.expect("read"),
        Some(first.clone())
    );

    let second = fx
        .store
        .set_secret(id, 1, "hash-two", None, 200)
        .await
        .expect("replace");

    assert_ne!(second.id, first.id);
    assert!(second.id > first.id);
    assert_eq!(fx.store.secret_by_id(first.id).await.expect("read"), None);
    let secrets = fx.store.secrets_of(id).await.expect("secrets");
    assert_eq!(secrets, vec![second.clone()]);
    assert_eq!(secrets[0].hash, "hash-two");
    assert_eq!(secrets[0].expires_at, None);
}

#[tokio::test]
async fn a_deleted_secret_id_is_never_reused() {
    let fx = Fixture::new().await;
    let id = principal(&fx, "ci").await;
    let old = fx.store.set_secret(id, 2, "h", None, 1).await.expect("set");
    assert!(fx.store.delete_secret(id, 2).await.expect("delete"));

    let new = fx.store.set_secret(id, 2, "h", None, 2).await.expect("set");

    assert!(new.id > old.id, "{} reuses or precedes {}", new.id, old.id);
    assert_eq!(fx.store.secret_by_id(old.id).await.expect("read"), None);
}

#[tokio::test]
async fn secrets_are_listed_by_slot_and_deleted_one_at_a_time() {
    let fx = Fixture::new().await;
    let id = principal(&fx, "ci").await;
    fx.store
        .set_secret(id, 2, "second", None, 1)
        .await
        .expect("set");
    fx.store
        .set_secret(id, 1, "first", None, 2)
        .await
        .expect("set");

    let slots: Vec<u8> = fx
        .store
        .secrets_of(id)
        .await
        .expect("secrets")
        .iter()
        .map(|s| s.slot)
        .collect();
    assert_eq!(slots, [1, 2]);

    assert!(fx.store.delete_secret(id, 1).await.expect("delete"));
    assert!(!fx.store.delete_secret(id, 1).await.expect("delete again"));
    assert!(!fx.store.delete_secret(id, 3).await.expect("no such slot"));
    let left = fx.store.secrets_of(id).await.expect("secrets");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].hash, "second");
}

#[tokio::test]
async fn secrets_for_a_missing_principal_or_slot_are_refused() {
    let fx = Fixture::new().await;
    let id = principal(&fx, "ci").await;

    let missing = fx
        .store
        .set_secret(id + 100, 1, "h", None, 1)
        .await
        .expect_err("missing principal");
    assert!(matches!(missing, MetaError::NotFound(_)), "{missing:?}");

    for slot in [0, 3] {
        let bad = fx
            .store
            .set_secret(id, slot, "h", None, 1)
            .await
            .expect_err("bad slot");
        assert!(
            matches!(&bad, MetaError::NotFound(message) if message.contains("slot")),
            "{bad:?}"
        );
    }
    assert_eq!(fx.count("principal_secrets").await, 0);
}

#[test]
fn debug_output_hides_hashes_and_private_keys() {
    let secret = berth_meta::SecretRecord {
        id: 1,
        principal_id: 1,
        slot: 1,
        hash: "$argon2id$secret-hash".to_owned(),
        expires_at: None,
        created_at: 0,
    };
    let key = berth_meta::SigningKeyRecord {
        kid: "k1".to_owned(),
        pkcs8: vec![0xde, 0xad, 0xbe, 0xef],
        active: true,
        created_at: 0,
        retired_at: None,
    };

    let secret_debug = format!("{secret:?}");
    let key_debug = format!("{key:?}");

    assert!(!secret_debug.contains("argon2id"), "{secret_debug}");
    assert!(key_debug.contains("k1"), "{key_debug}");
    assert!(!key_debug.contains("222"), "{key_debug}");
    assert!(!key_debug.contains("173"), "{key_debug}");
}

#[tokio::test]
async fn assigning_a_role_twice_returns_the_existing_assignment() {
    let fx = Fixture::new().await;
    let id = principal(&fx, "ci").await;

    let first = fx
        .store
        .assign_role(id, "AcrPush", "team/*", 10)
        .await
        .expect("assign");
    let again = fx
        .store
        .assign_role(id, "AcrPush", "team/*", 20)
        .await
        .expect("assign again");

    assert_eq!(again, first);
    assert_eq!(first.principal, "ci");
    assert_eq!(first.created_at, 10);
    assert_eq!(fx.count("role_assignments").await, 1);
}

#[tokio::test]
async fn roles_are_listed_in_order_and_unassigned() {
    let fx = Fixture::new().await;
    let bob = principal(&fx, "bob").await;
    let alice = principal(&fx, "alice").await;
    let store = &fx.store;
    store
        .assign_role(bob, "AcrPull", "b/*", 1)
        .await
        .expect("assign");
    store
        .assign_role(bob, "AcrPush", "a/*", 1)
        .await
        .expect("assign");
    store
        .assign_role(bob, "AcrDelete", "a/*", 1)
        .await
        .expect("assign");
    store
        .assign_role(alice, "owner", "*", 1)
        .await
        .expect("assign");

    let of_bob: Vec<(String, String)> = store
        .roles_of(bob)
        .await
        .expect("roles")
        .into_iter()
        .map(|r| (r.scope, r.role))
        .collect();
    assert_eq!(
        of_bob,
        [
            ("a/*".to_owned(), "AcrDelete".to_owned()),
            ("a/*".to_owned(), "AcrPush".to_owned()),
            ("b/*".to_owned(), "AcrPull".to_owned()),
        ]
    );
    let all: Vec<(String, String, String)> = store
        .list_role_assignments(None)
        .await
        .expect("all")
        .into_iter()
        .map(|r| (r.principal, r.scope, r.role))
        .collect();
    assert_eq!(
        all[0],
        ("alice".to_owned(), "*".to_owned(), "owner".to_owned())
    );
    assert_eq!(all.len(), 4);
    assert!(all[1..].iter().all(|(principal, _, _)| principal == "bob"));
    let only_alice = store
        .list_role_assignments(Some("alice"))
        .await
        .expect("alice");
    assert_eq!(only_alice.len(), 1);
    assert_eq!(only_alice[0].principal_id, alice);
    assert!(store
        .list_role_assignments(Some("nobody"))
        .await
        .expect("nobody")
        .is_empty());

    assert!(store
        .unassign_role(bob, "AcrPush", "a/*")
        .await
        .expect("unassign"));
    assert!(!store
        .unassign_role(bob, "AcrPush", "a/*")
        .await
        .expect("again"));
    assert!(!store
        .unassign_role(bob, "AcrPull", "a/*")
        .await
        .expect("other scope"));
    assert_eq!(store.roles_of(bob).await.expect("roles").len(), 2);
}

#[tokio::test]
async fn a_role_for_a_missing_principal_is_not_found() {
    let fx = Fixture::new().await;

    let err = fx
        .store
        .assign_role(42, "AcrPull", "*", 1)
        .await
        .expect_err("missing principal");

    assert!(matches!(err, MetaError::NotFound(_)), "{err:?}");
    assert_eq!(fx.count("role_assignments").await, 0);
}

#[tokio::test]
async fn only_the_newest_signing_key_is_active() {
    let fx = Fixture::new().await;
    assert!(fx.store.signing_keys().await.expect("keys").is_empty());

    for (kid, now) in [("k1", 100), ("k2", 200), ("k3", 300)] {
        fx.store
            .add_signing_key(kid, kid.as_bytes(), now)
            .await
            .expect("add key");
    }

    let keys = fx.store.signing_keys().await.expect("keys");
    let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, ["k3", "k2", "k1"]);
    assert_eq!(keys.iter().filter(|k| k.active).count(), 1);
    assert!(keys[0].active);
    assert_eq!(keys[0].retired_at, None);
    assert_eq!(keys[0].pkcs8, b"k3");
    assert_eq!((keys[1].active, keys[1].retired_at), (false, Some(300)));
    assert_eq!((keys[2].active, keys[2].retired_at), (false, Some(200)));
}

#[tokio::test]
async fn a_duplicate_key_id_is_refused_and_the_active_key_stays() {
    let fx = Fixture::new().await;
    fx.store
        .add_signing_key("k1", b"one", 100)
        .await
        .expect("add");
    fx.store
        .add_signing_key("k2", b"two", 200)
        .await
        .expect("add");
    let before = fx.store.signing_keys().await.expect("keys");

    let err = fx
        .store
        .add_signing_key("k1", b"again", 300)
        .await
        .expect_err("duplicate kid");

    assert!(
        matches!(&err, MetaError::Conflict(message) if message.contains("k1")),
        "{err:?}"
    );
    assert_eq!(fx.store.signing_keys().await.expect("keys"), before);
}

#[tokio::test]
async fn pruning_deletes_only_keys_retired_before_the_time() {
    let fx = Fixture::new().await;
    for (kid, now) in [("k1", 100), ("k2", 200), ("k3", 300)] {
        fx.store
            .add_signing_key(kid, b"key", now)
            .await
            .expect("add");
    }

    // k1 retired at 200, k2 at 300, k3 active.
    assert_eq!(fx.store.prune_signing_keys(200).await.expect("prune"), 0);
    assert_eq!(fx.store.prune_signing_keys(201).await.expect("prune"), 1);
    assert_eq!(
        fx.store.prune_signing_keys(i64::MAX).await.expect("prune"),
        1
    );

    let keys = fx.store.signing_keys().await.expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid, "k3");
    assert!(keys[0].active);
}

#[tokio::test]
async fn settings_are_set_and_replaced() {
    let fx = Fixture::new().await;
    assert_eq!(fx.store.setting("realm").await.expect("read"), None);

    fx.store
        .set_setting("realm", "https://a")
        .await
        .expect("set");
    fx.store.set_setting("other", "x").await.expect("set");
    fx.store
        .set_setting("realm", "https://b")
        .await
        .expect("replace");

    assert_eq!(
        fx.store.setting("realm").await.expect("read").as_deref(),
        Some("https://b")
    );
    assert_eq!(
        fx.store.setting("other").await.expect("read").as_deref(),
        Some("x")
    );
    assert_eq!(fx.count("settings").await, 2);
}

#[tokio::test]
async fn anonymous_pull_on_a_missing_repository_is_not_found() {
    let fx = Fixture::new().await;

    let err = fx
        .store
        .set_anonymous_pull("library/ghost", true)
        .await
        .expect_err("missing repository");

    assert!(
        matches!(&err, MetaError::NotFound(message)
            if message == "repository library/ghost does not exist"),
        "{err:?}"
    );
    assert!(!fx
        .store
        .anonymous_pull("library/ghost")
        .await
        .expect("read"));
    assert_eq!(fx.count("repositories").await, 0);
}

#[tokio::test]
async fn anonymous_pull_is_off_by_default_and_toggles() {
    let fx = Fixture::new().await;
    create_repository(&fx, "public/app").await;
    assert!(!fx.store.anonymous_pull("public/app").await.expect("read"));

    fx.store
        .set_anonymous_pull("public/app", true)
        .await
        .expect("enable");
    assert!(fx.store.anonymous_pull("public/app").await.expect("read"));

    fx.store
        .set_anonymous_pull("public/app", false)
        .await
        .expect("disable");
    assert!(!fx.store.anonymous_pull("public/app").await.expect("read"));
}

#[tokio::test]
async fn anonymous_repositories_page_by_name() {
    let fx = Fixture::new().await;
    for name in ["d", "a", "private", "c", "b"] {
        create_repository(&fx, name).await;
    }
    for name in ["d", "a", "c", "b"] {
        fx.store
            .set_anonymous_pull(name, true)
            .await
            .expect("enable");
    }
    fx.store
        .set_anonymous_pull("d", false)
        .await
        .expect("disable");

    let store = &fx.store;
    assert_eq!(
        store.anonymous_repositories(100, None).await.expect("all"),
        ["a", "b", "c"]
    );
    assert_eq!(
        store.anonymous_repositories(2, None).await.expect("first"),
        ["a", "b"]
    );
    assert_eq!(
        store
            .anonymous_repositories(2, Some("b"))
            .await
            .expect("next"),
        ["c"]
    );
    assert!(store
        .anonymous_repositories(2, Some("c"))
        .await
        .expect("end")
        .is_empty());
    assert!(store
        .anonymous_repositories(0, None)
        .await
        .expect("zero")
        .is_empty());
    assert_eq!(
        store
            .anonymous_repositories(usize::MAX, Some("a"))
            .await
            .expect("huge"),
        ["b", "c"]
    );
}

#[tokio::test]
async fn federations_are_created_listed_by_issuer_and_deleted() {
    let fx = Fixture::new().await;
    let ci = principal(&fx, "ci").await;
    let github = claims(&[
        ("sub", "repo:org/*:ref:refs/heads/main"),
        ("repository_owner", "org"),
    ]);
    let gitlab = claims(&[("project_path", "group/*")]);

    let created = fx
        .store
        .create_federation("gh", "https://token.actions", "berth", &github, ci, 50)
        .await
        .expect("create");
    fx.store
        .create_federation("gl", "https://gitlab", "berth", &gitlab, ci, 60)
        .await
        .expect("create");
    fx.store
        .create_federation("gh-2", "https://token.actions", "other", &gitlab, ci, 70)
        .await
        .expect("create");

    assert_eq!(created.name, "gh");
    assert_eq!(created.issuer, "https://token.actions");
    assert_eq!(created.audience, "berth");
    assert_eq!(created.claims, github);
    assert_eq!(
        (created.principal_id, created.principal.as_str()),
        (ci, "ci")
    );
    assert_eq!(created.created_at, 50);
    let all = fx.store.list_federations().await.expect("list");
    let names: Vec<&str> = all.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["gh", "gh-2", "gl"]);
    assert_eq!(all[0], created);
    let actions = fx
        .store
        .federations_for_issuer("https://token.actions")
        .await
        .expect("by issuer");
    let names: Vec<&str> = actions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["gh", "gh-2"]);
    assert!(fx
        .store
        .federations_for_issuer("https://unknown")
        .await
        .expect("by issuer")
        .is_empty());

    assert!(fx.store.delete_federation("gh").await.expect("delete"));
    assert!(!fx
        .store
        .delete_federation("gh")
        .await
        .expect("delete again"));
    assert_eq!(fx.store.list_federations().await.expect("list").len(), 2);
}

#[tokio::test]
async fn federation_conflicts_and_missing_principals_change_nothing() {
    let fx = Fixture::new().await;
    let ci = principal(&fx, "ci").await;
    let original = fx
        .store
        .create_federation("gh", "https://a", "berth", &claims(&[("sub", "x")]), ci, 1)
        .await
        .expect("create");

    let taken = fx
        .store
        .create_federation("gh", "https://b", "other", &claims(&[]), ci, 2)
        .await
        .expect_err("name taken");
    let orphan = fx
        .store
        .create_federation("new", "https://b", "other", &claims(&[]), ci + 100, 2)
        .await
        .expect_err("missing principal");

    assert!(
        matches!(&taken, MetaError::Conflict(message) if message == "federation gh already exists"),
        "{taken:?}"
    );
    assert!(matches!(orphan, MetaError::NotFound(_)), "{orphan:?}");
    assert_eq!(
        fx.store.list_federations().await.expect("list"),
        vec![original]
    );
}

#[tokio::test]
async fn audit_events_read_back_newest_first() {
    let fx = Fixture::new().await;
    let mut full = event(10, Some("ci"), "manifest.push", Some("app"));
    full.digest = Some("sha256:abc".to_owned());
    full.detail = "tag latest".to_owned();
    let anonymous = AuditEvent {
        source: None,
        outcome: "denied".to_owned(),
        ..event(20, None, "blob.pull", None)
    };

    fx.store
        .append_audit(&[full.clone(), anonymous.clone()])
        .await
        .expect("append");
    fx.store.append_audit(&[]).await.expect("empty batch");

    let records = fx
        .store
        .query_audit(&AuditQuery::default())
        .await
        .expect("query");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].event, anonymous);
    assert_eq!(records[1].event, full);
    assert!(records[0].id > records[1].id);
    assert_eq!(fx.store.count_audit().await.expect("count"), 2);
}

#[tokio::test]
async fn audit_filters_combine() {
    let fx = Fixture::new().await;
    let mut denied = event(40, Some("ci"), "manifest.push", Some("app"));
    denied.outcome = "denied".to_owned();
    let events = [
        event(10, Some("ci"), "manifest.push", Some("app")),
        event(20, Some("ci"), "blob.pull", Some("app")),
        event(30, Some("bob"), "manifest.push", Some("app")),
        denied,
        event(50, Some("ci"), "manifest.push", Some("web")),
    ];
    fx.store.append_audit(&events).await.expect("append");
    let times = |query: AuditQuery| {
        let store = fx.store.clone();
        async move {
            store
                .query_audit(&query)
                .await
                .expect("query")
                .into_iter()
                .map(|r| r.event.at)
                .collect::<Vec<_>>()
        }
    };

    let ci = AuditQuery {
        principal: Some("ci".to_owned()),
        ..AuditQuery::default()
    };
    assert_eq!(times(ci.clone()).await, [50, 40, 20, 10]);
    let ci_pushes_to_app = AuditQuery {
        repository: Some("app".to_owned()),
        action: Some("manifest.push".to_owned()),
        ..ci.clone()
    };
    assert_eq!(times(ci_pushes_to_app.clone()).await, [40, 10]);
    let succeeded = AuditQuery {
        outcome: Some("success".to_owned()),
        ..ci_pushes_to_app
    };
    assert_eq!(times(succeeded).await, [10]);
    let window = AuditQuery {
        since: Some(20),
        until: Some(50),
        ..AuditQuery::default()
    };
    assert_eq!(times(window).await, [40, 30, 20]);
    let nobody = AuditQuery {
        principal: Some("nobody".to_owned()),
        ..AuditQuery::default()
    };
    assert!(times(nobody).await.is_empty());
}

#[tokio::test]
async fn audit_pages_with_limit_and_before_id() {
    let fx = Fixture::new().await;
    let events: Vec<AuditEvent> = (0..7)
        .map(|at| event(at, Some("ci"), "blob.pull", Some("app")))
        .collect();
    fx.store.append_audit(&events).await.expect("append");

    let mut seen = Vec::new();
    let mut before_id = None;
    loop {
        let query = AuditQuery {
            before_id,
            limit: 3,
            ..AuditQuery::default()
        };
        let page = fx.store.query_audit(&query).await.expect("page");
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        before_id = Some(last.id);
        seen.extend(page.iter().map(|r| r.event.at));
    }

    assert_eq!(seen, [6, 5, 4, 3, 2, 1, 0]);
}

#[tokio::test]
async fn audit_limit_defaults_to_100_and_is_capped_at_1000() {
    let fx = Fixture::new().await;
    let events: Vec<AuditEvent> = (0..1_005)
        .map(|at| event(at, None, "blob.pull", None))
        .collect();
    fx.store.append_audit(&events).await.expect("append");

    let default = fx
        .store
        .query_audit(&AuditQuery::default())
        .await
        .expect("query");
    let huge = AuditQuery {
        limit: 5_000,
        ..AuditQuery::default()
    };
    let capped = fx.store.query_audit(&huge).await.expect("query");

    assert_eq!(default.len(), 100);
    assert_eq!(default[0].event.at, 1_004);
    assert_eq!(capped.len(), 1_000);
    assert_eq!(capped[999].event.at, 5);
}

#[tokio::test]
async fn audit_prune_deletes_only_older_records() {
    let fx = Fixture::new().await;
    let events: Vec<AuditEvent> = [10, 20, 30]
        .into_iter()
        .map(|at| event(at, None, "blob.pull", None))
        .collect();
    fx.store.append_audit(&events).await.expect("append");

    assert_eq!(fx.store.prune_audit(10).await.expect("prune"), 0);
    assert_eq!(fx.store.prune_audit(30).await.expect("prune"), 2);

    let left = fx
        .store
        .query_audit(&AuditQuery::default())
        .await
        .expect("query");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].event.at, 30);
    assert_eq!(fx.store.count_audit().await.expect("count"), 1);
}

#[tokio::test]
async fn audit_ids_are_never_reused_after_a_prune() {
    let fx = Fixture::new().await;
    fx.store
        .append_audit(&[event(1, None, "blob.pull", None)])
        .await
        .expect("append");
    let first = fx
        .store
        .query_audit(&AuditQuery::default())
        .await
        .expect("query")[0]
        .id;
    fx.store.prune_audit(i64::MAX).await.expect("prune");

    fx.store
        .append_audit(&[event(2, None, "blob.pull", None)])
        .await
        .expect("append");

    let second = fx
        .store
        .query_audit(&AuditQuery::default())
        .await
        .expect("query")[0]
        .id;
    assert!(second > first, "{second} reuses or precedes {first}");
}
