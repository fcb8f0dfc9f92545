//! The remote client against a registry that speaks only the older protocol: plain basic
//! authentication and no referrers API, so referrers come from the referrers tag schema
//! (`sha256-<hex>`). The registry is a small axum server on loopback, as such registries
//! behave; berth itself, with token auth and the referrers API, is exercised by the
//! end-to-end import tests of the `berth` crate.

use std::net::SocketAddr;

use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use berth_oci::{Digest, Reference};
use berth_registry::{ImageSource, RegistryError};
use berth_remote::{Credentials, Destinations, IpRanges, RemoteOptions, RemoteSource};
use serde_json::json;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const AUTHORIZATION: &str = "Basic dTpw"; // u:p

fn subject() -> Digest {
    Digest::sha256(b"the subject")
}

fn referrers_index() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": Digest::sha256(b"a signature").to_string(),
            "size": 11,
            "artifactType": "application/vnd.example.signature"
        }]
    }))
    .unwrap()
}

async fn manifests(Path(reference): Path<String>, headers: HeaderMap) -> Response {
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(AUTHORIZATION)
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"old\"")],
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"who are you"}]}"#,
        )
            .into_response();
    }
    if reference == format!("sha256-{}", subject().hex()) {
        let body = referrers_index();
        let digest = Digest::sha256(&body).to_string();
        return (
            [
                (header::CONTENT_TYPE, OCI_INDEX.to_string()),
                (
                    header::HeaderName::from_static("docker-content-digest"),
                    digest,
                ),
            ],
            body,
        )
            .into_response();
    }
    (
        StatusCode::NOT_FOUND,
        r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no such manifest"}]}"#,
    )
        .into_response()
}

async fn serve() -> SocketAddr {
    let app = Router::new()
        .route("/v2/team/app/manifests/{reference}", get(manifests))
        .route(
            "/v2/team/app/referrers/{digest}",
            get(|| async { StatusCode::NOT_FOUND }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn source(addr: SocketAddr, password: &str) -> RemoteSource {
    let options = RemoteOptions {
        credentials: Some(Credentials {
            username: "u".into(),
            password: password.into(),
        }),
        plain_http: false,
        destinations: Destinations {
            allowed: IpRanges::parse(&["127.0.0.1".to_string()], "range").unwrap(),
        },
    };
    RemoteSource::new(&addr.to_string(), "team/app", options).unwrap()
}

#[tokio::test]
async fn referrers_come_from_the_tag_schema_when_the_api_answers_404() {
    let addr = serve().await;
    let found = source(addr, "p").referrers(&subject()).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].digest, Digest::sha256(b"a signature"));
    assert_eq!(
        found[0].artifact_type.as_deref(),
        Some("application/vnd.example.signature")
    );
    // No tag either: no referrers, not an error.
    let none = source(addr, "p")
        .referrers(&Digest::sha256(b"lonely"))
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn basic_challenges_are_answered_and_wrong_credentials_named() {
    let addr = serve().await;
    let tag = Reference::parse(&format!("sha256-{}", subject().hex())).unwrap();
    let manifest = source(addr, "p").manifest(&tag).await.unwrap();
    assert_eq!(manifest.content, referrers_index());
    assert_eq!(manifest.media_type, OCI_INDEX);
    assert_eq!(manifest.digest, Some(Digest::sha256(&manifest.content)));

    let missing = source(addr, "p")
        .manifest(&Reference::parse("v9").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(missing, RegistryError::SourceNotFound { .. }),
        "{missing:?}"
    );
    assert!(missing.to_string().contains("manifest v9"), "{missing}");

    let refused = source(addr, "wrong").manifest(&tag).await.unwrap_err();
    assert!(
        matches!(refused, RegistryError::SourceUnauthorized { .. }),
        "{refused:?}"
    );
    let message = refused.to_string();
    assert!(
        message.contains(&format!("{addr}/team/app")) && message.contains("who are you"),
        "{message}"
    );
    assert!(!message.contains("wrong"), "{message}");
}
