//! The identity service over a real metadata store: who is authenticated, what each
//! caller may do, what tokens grant, and which changes revoke what.

use std::net::IpAddr;
use std::time::Duration;

use berth_auth::access::{Action, ActionSet, RequestedScope};
use berth_auth::audit::AuditLog;
use berth_auth::authority::{
    AuthSettings, Authority, Caller, Credentials, Decision, NewPrincipal, TokenRequest,
    TOKEN_USERNAME,
};
use berth_auth::AuthError;
use berth_meta::{MetaStore, PrincipalKind};

struct Fixture {
    _dir: tempfile::TempDir,
    authority: Authority,
    meta: MetaStore,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let meta = MetaStore::open(&dir.path().join("berth.db")).await.unwrap();
    let (audit, _writer) = AuditLog::start(meta.clone());
    let settings = AuthSettings {
        failure_limit: 3,
        ..AuthSettings::default()
    };
    let authority = Authority::open(meta.clone(), settings, audit)
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        authority,
        meta,
    }
}

fn source() -> IpAddr {
    "192.0.2.1".parse().unwrap()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

async fn principal(f: &Fixture, name: &str, roles: &[(&str, &str)]) -> String {
    let (_, secret) = f
        .authority
        .create_principal(NewPrincipal {
            name: name.into(),
            kind: PrincipalKind::ServicePrincipal,
            description: String::new(),
            scope_map: None,
            roles: roles
                .iter()
                .map(|(r, s)| (r.to_string(), s.to_string()))
                .collect(),
            secret_ttl: None,
        })
        .await
        .unwrap();
    secret.secret
}

fn scopes(text: &[&str]) -> Vec<RequestedScope> {
    RequestedScope::parse_all(text.iter().copied()).unwrap()
}

fn request(credentials: Credentials, scope: &[&str], offline: bool) -> TokenRequest {
    TokenRequest {
        credentials,
        service: Some("berth".into()),
        scopes: scopes(scope),
        offline,
        login_ttl: None,
        source: source(),
    }
}

fn pull() -> ActionSet {
    ActionSet::of(&[Action::Pull])
}

fn push() -> ActionSet {
    ActionSet::of(&[Action::Push])
}

#[tokio::test]
async fn first_start_creates_one_owner_with_a_private_password_file() {
    let f = fixture().await;
    let file = f._dir.path().join("owner-password");
    assert!(f.authority.bootstrap_owner(&file).await.unwrap());
    assert!(
        !f.authority.bootstrap_owner(&file).await.unwrap(),
        "only once"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let password = std::fs::read_to_string(&file).unwrap().trim().to_string();
    let caller = f
        .authority
        .authenticate(Some(&basic("owner", &password)), source())
        .await
        .unwrap();
    let Caller::Principal { grants, .. } = caller else {
        panic!("owner authenticates with basic credentials");
    };
    assert!(grants.is_admin());
}

#[tokio::test]
async fn basic_credentials_are_judged_by_current_roles() {
    let f = fixture().await;
    let secret = principal(&f, "ci", &[("AcrPush", "team/*")]).await;
    let caller = f
        .authority
        .authenticate(Some(&basic("ci", &secret)), source())
        .await
        .unwrap();
    let decide = |repo: &'static str, actions| {
        let caller = caller.clone();
        let authority = f.authority.clone();
        async move { authority.authorize(&caller, repo, actions).await.unwrap() }
    };
    assert_eq!(decide("team/app", push()).await, Decision::Allow);
    assert_eq!(decide("team/a/b", pull()).await, Decision::Allow);
    assert_eq!(decide("other/app", pull()).await, Decision::Forbidden);
    assert_eq!(
        decide("team/app", ActionSet::of(&[Action::Delete])).await,
        Decision::Forbidden
    );

    // Removing the role takes effect at once for new authentications.
    f.authority
        .remove_role("ci", "push", "team/*")
        .await
        .unwrap();
    let caller = f
        .authority
        .authenticate(Some(&basic("ci", &secret)), source())
        .await
        .unwrap();
    assert_eq!(
        f.authority
            .authorize(&caller, "team/app", pull())
            .await
            .unwrap(),
        Decision::Forbidden
    );
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_then_throttled() {
    let f = fixture().await;
    let secret = principal(&f, "ci", &[("pull", "*")]).await;
    for attempt in 0..3 {
        let err = f
            .authority
            .authenticate(Some(&basic("ci", "wrong")), source())
            .await
            .unwrap_err();
        assert!(
            matches!(err, AuthError::BadCredentials),
            "attempt {attempt}: {err}"
        );
    }
    let err = f
        .authority
        .authenticate(Some(&basic("ci", &secret)), source())
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Throttled { .. }), "{err}");
    let elsewhere: IpAddr = "192.0.2.2".parse().unwrap();
    f.authority
        .authenticate(Some(&basic("ci", &secret)), elsewhere)
        .await
        .expect("another address is not blocked");
    let err = f
        .authority
        .authenticate(Some(&basic("nobody", "x")), elsewhere)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::BadCredentials),
        "unknown user: {err}"
    );
}

#[tokio::test]
async fn tokens_grant_exactly_the_permitted_subset() {
    let f = fixture().await;
    let secret = principal(&f, "reader", &[("pull", "team/app")]).await;
    let issued = f
        .authority
        .issue(request(
            Credentials::Password {
                username: "reader".into(),
                password: secret,
            },
            &["repository:team/app:pull,push", "repository:other:pull"],
            false,
        ))
        .await
        .unwrap();
    assert!(issued.login_token.is_none());
    let access = f
        .authority
        .verify_access_token(&issued.access_token)
        .unwrap();
    let caller = Caller::Token(access);
    let authority = &f.authority;
    assert_eq!(
        authority
            .authorize(&caller, "team/app", pull())
            .await
            .unwrap(),
        Decision::Allow
    );
    assert_eq!(
        authority
            .authorize(&caller, "team/app", push())
            .await
            .unwrap(),
        Decision::Forbidden,
        "the principal holds no push"
    );
    assert_eq!(
        authority.authorize(&caller, "other", pull()).await.unwrap(),
        Decision::Forbidden
    );
}

#[tokio::test]
async fn a_token_without_a_held_action_asks_for_a_better_token() {
    let f = fixture().await;
    let secret = principal(&f, "ci", &[("push", "app")]).await;
    let issued = f
        .authority
        .issue(request(
            Credentials::Password {
                username: "ci".into(),
                password: secret,
            },
            &["repository:app:pull"],
            false,
        ))
        .await
        .unwrap();
    let caller = Caller::Token(
        f.authority
            .verify_access_token(&issued.access_token)
            .unwrap(),
    );
    assert_eq!(
        f.authority.authorize(&caller, "app", push()).await.unwrap(),
        Decision::InsufficientScope
    );
}

#[tokio::test]
async fn anonymous_callers_pull_only_public_repositories() {
    let f = fixture().await;
    let authority = &f.authority;
    assert_eq!(
        authority
            .authorize(&Caller::Anonymous, "app", pull())
            .await
            .unwrap(),
        Decision::Unauthenticated
    );
    let err = authority
        .set_repository_anonymous_pull("app", true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::Meta(berth_meta::MetaError::NotFound(_))),
        "{err}"
    );

    authority.set_registry_anonymous_pull(true).await.unwrap();
    assert_eq!(
        authority
            .authorize(&Caller::Anonymous, "app", pull())
            .await
            .unwrap(),
        Decision::Allow
    );
    assert_eq!(
        authority
            .authorize(&Caller::Anonymous, "app", push())
            .await
            .unwrap(),
        Decision::Unauthenticated
    );
    let anonymous = authority
        .issue(request(
            Credentials::Anonymous,
            &["repository:app:pull,push"],
            true,
        ))
        .await
        .unwrap();
    assert!(
        anonymous.login_token.is_none(),
        "no login token without credentials"
    );
    let caller = Caller::Token(
        authority
            .verify_access_token(&anonymous.access_token)
            .unwrap(),
    );
    assert_eq!(
        authority.authorize(&caller, "app", pull()).await.unwrap(),
        Decision::Allow
    );
    assert_eq!(
        authority.authorize(&caller, "app", push()).await.unwrap(),
        Decision::Unauthenticated
    );
}

#[tokio::test]
async fn login_tokens_die_with_their_secret() {
    let f = fixture().await;
    let secret = principal(&f, "ci", &[("push", "*")]).await;
    let issued = f
        .authority
        .issue(request(
            Credentials::Password {
                username: "ci".into(),
                password: secret,
            },
            &[],
            true,
        ))
        .await
        .unwrap();
    let login = issued
        .login_token
        .expect("offline request gets a login token");

    // The login token works as a refresh token and as a basic password.
    f.authority
        .issue(request(
            Credentials::RefreshToken(login.clone()),
            &["repository:app:push"],
            false,
        ))
        .await
        .unwrap();
    f.authority
        .authenticate(Some(&basic(TOKEN_USERNAME, &login)), source())
        .await
        .unwrap();
    // It is not an access token.
    assert!(f.authority.verify_access_token(&login).is_err());

    f.authority.delete_secret("ci", 1).await.unwrap();
    let err = f
        .authority
        .issue(request(
            Credentials::RefreshToken(login.clone()),
            &[],
            false,
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken(_)), "{err}");
    assert!(f
        .authority
        .authenticate(
            Some(&basic(TOKEN_USERNAME, &login)),
            "192.0.2.9".parse().unwrap()
        )
        .await
        .is_err());
}

#[tokio::test]
async fn tokens_are_bound_to_the_service() {
    let f = fixture().await;
    let mut other = request(Credentials::Anonymous, &[], false);
    other.service = Some("elsewhere".into());
    let err = f.authority.issue(other).await.unwrap_err();
    assert!(matches!(err, AuthError::WrongService { .. }), "{err}");
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key() {
    let f = fixture().await;
    let old = f
        .authority
        .issue(request(Credentials::Anonymous, &[], false))
        .await
        .unwrap()
        .access_token;
    let (new_kid, previous) = f.authority.rotate_signing_key().await.unwrap();
    assert_ne!(new_kid, previous);
    f.authority
        .verify_access_token(&old)
        .expect("old token still verifies");
    let new = f
        .authority
        .issue(request(Credentials::Anonymous, &[], false))
        .await
        .unwrap()
        .access_token;
    let (header, _) = berth_auth::peek_unverified(&new).unwrap();
    assert_eq!(header["kid"], new_kid.as_str());
    let keys = f.meta.signing_keys().await.unwrap();
    assert_eq!(keys.iter().filter(|k| k.active).count(), 1);
}

#[tokio::test]
async fn the_last_owner_cannot_be_removed() {
    let f = fixture().await;
    f.authority
        .bootstrap_owner(&f._dir.path().join("owner-password"))
        .await
        .unwrap();
    let err = f.authority.delete_principal("owner").await.unwrap_err();
    assert!(matches!(err, AuthError::Forbidden(_)), "{err}");
    let err = f
        .authority
        .remove_role("owner", "Owner", "*")
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Forbidden(_)), "{err}");
    principal(&f, "second", &[("owner", "*")]).await;
    f.authority.delete_principal("owner").await.unwrap();
}

#[tokio::test]
async fn management_refuses_bad_input_and_changes_nothing() {
    let f = fixture().await;
    let new = |name: &str, kind, scope_map: Option<Vec<String>>, roles: Vec<(String, String)>| {
        NewPrincipal {
            name: name.into(),
            kind,
            description: String::new(),
            scope_map,
            roles,
            secret_ttl: None,
        }
    };
    let cases = [
        new("bad name", PrincipalKind::User, None, vec![]),
        new("t", PrincipalKind::Token, None, vec![]),
        new(
            "t",
            PrincipalKind::Token,
            Some(vec!["repositories/app/content/fly".into()]),
            vec![],
        ),
        new(
            "u",
            PrincipalKind::User,
            Some(vec!["repositories/app/content/read".into()]),
            vec![],
        ),
        new(
            "u",
            PrincipalKind::User,
            None,
            vec![("admin".into(), "*".into())],
        ),
        new(
            "u",
            PrincipalKind::User,
            None,
            vec![("pull".into(), "a/*/b".into())],
        ),
    ];
    for case in cases {
        let err = f
            .authority
            .create_principal(case.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(err, AuthError::Invalid(_) | AuthError::InvalidScope(_)),
            "{case:?}: {err}"
        );
    }
    assert_eq!(f.meta.count_principals().await.unwrap(), 0);

    principal(&f, "ci", &[]).await;
    let err = f
        .authority
        .create_principal(new("ci", PrincipalKind::User, None, vec![]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::Meta(berth_meta::MetaError::Conflict(_))),
        "{err}"
    );
    let err = f.authority.reset_secret("ci", 3, None).await.unwrap_err();
    assert!(matches!(err, AuthError::Invalid(_)), "{err}");
    let err = f
        .authority
        .assign_role("ghost", "pull", "*")
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::NotFound(_)), "{err}");
}

#[tokio::test]
async fn expired_secrets_do_not_authenticate() {
    let f = fixture().await;
    principal(&f, "ci", &[("pull", "*")]).await;
    let second = f
        .authority
        .reset_secret("ci", 2, Some(Duration::from_millis(1)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let err = f
        .authority
        .authenticate(Some(&basic("ci", &second.secret)), source())
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::BadCredentials), "{err}");
}

#[tokio::test]
async fn scope_map_tokens_get_only_their_map() {
    let f = fixture().await;
    let (_, secret) = f
        .authority
        .create_principal(NewPrincipal {
            name: "reader".into(),
            kind: PrincipalKind::Token,
            description: String::new(),
            scope_map: Some(vec!["repositories/team/*/content/read".into()]),
            roles: vec![],
            secret_ttl: None,
        })
        .await
        .unwrap();
    let caller = f
        .authority
        .authenticate(Some(&basic("reader", &secret.secret)), source())
        .await
        .unwrap();
    assert_eq!(
        f.authority
            .authorize(&caller, "team/app", pull())
            .await
            .unwrap(),
        Decision::Allow
    );
    assert_eq!(
        f.authority
            .authorize(&caller, "team/app", push())
            .await
            .unwrap(),
        Decision::Forbidden
    );
    let err = f
        .authority
        .assign_role("reader", "push", "*")
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Invalid(_)), "{err}");
}
