//! The remote client reaches only the addresses its destinations permit: public ones, and
//! the ranges an operator allowed. A small axum server on loopback stands in for a source
//! registry and counts what reaches it, so each refusal is shown to happen before any
//! request is sent: to the source itself (by address or by name), to the token realm its
//! challenge names, and to where it redirects.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use berth_oci::Reference;
use berth_registry::{ImageSource, RegistryError};
use berth_remote::{Destinations, IpRanges, RemoteOptions, RemoteSource};

/// A source whose `/v2/<repo>/manifests/…` answers as `answer` says, counting requests.
async fn serve(
    answer: fn(SocketAddr) -> axum::response::Response,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let app = Router::new().route(
        "/v2/team/app/manifests/{reference}",
        get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { answer(addr) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hits)
}

fn source(registry: &str, allowed: &[&str]) -> RemoteSource {
    let allowed: Vec<String> = allowed.iter().map(|r| r.to_string()).collect();
    let options = RemoteOptions {
        credentials: None,
        plain_http: true,
        destinations: Destinations {
            allowed: IpRanges::parse(&allowed, "range").unwrap(),
        },
    };
    RemoteSource::new(registry, "team/app", options).unwrap()
}

async fn fetch(source: &RemoteSource) -> Result<(), RegistryError> {
    source
        .manifest(&Reference::parse("v1").unwrap())
        .await
        .map(|_| ())
}

fn refused(result: Result<(), RegistryError>) -> String {
    let err = result.expect_err("the fetch is refused");
    assert!(
        matches!(err, RegistryError::SourceUnreachable { .. }),
        "{err:?}"
    );
    err.to_string()
}

fn not_found(_: SocketAddr) -> axum::response::Response {
    StatusCode::NOT_FOUND.into_response()
}

#[tokio::test]
async fn loopback_sources_are_refused_unless_allowed() {
    let (addr, hits) = serve(not_found).await;

    let message = refused(fetch(&source(&addr.to_string(), &[])).await);
    assert!(
        message.contains("127.0.0.1 is a loopback address"),
        "{message}"
    );
    assert!(message.contains("--import-allowed-networks"), "{message}");
    let message = refused(fetch(&source(&format!("localhost:{}", addr.port()), &[])).await);
    assert!(message.contains("localhost resolves to"), "{message}");
    assert!(message.contains("loopback"), "{message}");
    let message = refused(fetch(&source(&addr.to_string(), &["10.0.0.0/8"])).await);
    assert!(message.contains("loopback"), "{message}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the source");

    // Allowed, the same source answers (here: the manifest is not there).
    let answered = fetch(&source(&addr.to_string(), &["127.0.0.0/8"])).await;
    assert!(
        matches!(answered, Err(RegistryError::SourceNotFound { .. })),
        "{answered:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn token_realms_outside_the_destinations_are_never_asked() {
    fn challenge(_: SocketAddr) -> axum::response::Response {
        (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                r#"Bearer realm="http://169.254.169.254/latest/meta-data",service="x""#,
            )],
        )
            .into_response()
    }
    let (addr, hits) = serve(challenge).await;
    let message = refused(fetch(&source(&addr.to_string(), &["127.0.0.1"])).await);
    assert!(
        message.contains("169.254.169.254 is a link-local address"),
        "{message}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "only the challenge was fetched"
    );
}

#[tokio::test]
async fn redirects_outside_the_destinations_are_not_followed() {
    fn redirect(addr: SocketAddr) -> axum::response::Response {
        let elsewhere = format!("http://127.0.0.2:{}/v2/team/app/manifests/v1", addr.port());
        (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, elsewhere)],
        )
            .into_response()
    }
    let (addr, hits) = serve(redirect).await;
    let message = refused(fetch(&source(&addr.to_string(), &["127.0.0.1"])).await);
    assert!(
        message.contains("127.0.0.2 is a loopback address"),
        "{message}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the redirect was not followed"
    );
}
