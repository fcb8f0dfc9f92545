//! Listings: `/v2/_catalog`, `/v2/<name>/tags/list` and `/v2/<name>/referrers/<digest>`.
//!
//! Paged listings follow the spec: results in lexical order, at most `n`, strictly after
//! `last`, and a `Link` header to the next page whenever more remain.

use axum::extract::Query;
use axum::http::request::Parts;
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_oci::media_type;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{digest, page_size, repository, value};
use crate::error::ApiError;
use crate::AppState;
use berth_auth::authority::{Caller, CatalogView};
use berth_registry::{Registry, RegistryError};

static FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");

/// The largest page served, whatever `n` asks for; a larger request gets this many and a
/// `Link` to the rest.
const MAX_PAGE: u32 = 10_000;

#[derive(Deserialize, Default)]
struct PageQuery {
    n: Option<String>,
    last: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ReferrersQuery {
    artifact_type: Option<String>,
}

fn page_query(parts: &Parts) -> Result<PageQuery, ApiError> {
    Query::<PageQuery>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .map_err(|err| ApiError::QueryInvalid {
            name: "n",
            reason: err.body_text(),
        })
}

/// One page of names, and whether another follows.
struct Page {
    items: Vec<String>,
    next: Option<(u32, String)>,
}

/// Runs a listing with one extra row to learn whether a next page exists.
async fn paged<F, Fut>(query: &PageQuery, list: F) -> Result<Page, ApiError>
where
    F: FnOnce(Option<String>, Option<u32>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, berth_registry::RegistryError>>,
{
    let requested = page_size(query.n.as_deref())?;
    let limit = requested.map(|n| n.min(MAX_PAGE));
    let mut items = list(query.last.clone(), limit.map(|n| n + 1)).await?;
    let next = match limit {
        Some(n) if items.len() > n as usize => {
            items.truncate(n as usize);
            items.last().map(|last| (n, last.clone()))
        }
        _ => None,
    };
    Ok(Page { items, next })
}

fn with_link(mut response: Response, path: &str, next: Option<(u32, String)>) -> Response {
    if let Some((n, last)) = next {
        let link = format!("<{path}?n={n}&last={last}>; rel=\"next\"");
        response.headers_mut().insert(header::LINK, value(link));
    }
    response
}

fn json<T: Serialize>(content_type: &'static str, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        bytes,
    )
        .into_response()
}

pub async fn catalog(state: &AppState, parts: &Parts) -> Result<Response, ApiError> {
    let query = page_query(parts)?;
    let registry = &state.registry;
    let view = match (state.auth.as_ref(), parts.extensions.get::<Caller>()) {
        (Some(authority), Some(caller)) => Some(authority.catalog_view(caller).await?),
        _ => None,
    };
    let page = match view.filter(|view| !view.sees_everything()) {
        None => {
            paged(&query, |last, limit| async move {
                registry.catalog(last.as_deref(), limit).await
            })
            .await?
        }
        Some(view) => {
            let view = &view;
            paged(&query, |last, limit| async move {
                visible_catalog(registry, view, last, limit).await
            })
            .await?
        }
    };
    let response = json("application/json", &json!({ "repositories": page.items }));
    Ok(with_link(response, "/v2/_catalog", page.next))
}

/// Repositories the caller may see, in order: the catalog is read in batches and
/// filtered until the page is full or the catalog ends.
async fn visible_catalog(
    registry: &Registry,
    view: &CatalogView,
    mut last: Option<String>,
    limit: Option<u32>,
) -> Result<Vec<String>, RegistryError> {
    const BATCH: u32 = 1000;
    let meta = registry.meta();
    let wanted = limit.map_or(usize::MAX, |n| n as usize);
    let mut visible = Vec::new();
    loop {
        let batch = registry.catalog(last.as_deref(), Some(BATCH)).await?;
        let exhausted = batch.len() < BATCH as usize;
        for name in batch {
            let allowed = view.can_see(&name, false) || meta.anonymous_pull(&name).await?;
            if allowed {
                visible.push(name.clone());
                if visible.len() == wanted {
                    return Ok(visible);
                }
            }
            last = Some(name);
        }
        if exhausted {
            return Ok(visible);
        }
    }
}

pub async fn tags(state: &AppState, name: &str, parts: &Parts) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let query = page_query(parts)?;
    let registry = &state.registry;
    let repo = &repository;
    let page = paged(&query, |last, limit| async move {
        registry.list_tags(repo, last.as_deref(), limit).await
    })
    .await?;
    let response = json(
        "application/json",
        &json!({ "name": repository.as_str(), "tags": page.items }),
    );
    Ok(with_link(
        response,
        &format!("/v2/{repository}/tags/list"),
        page.next,
    ))
}

pub async fn referrers(
    state: &AppState,
    name: &str,
    subject: &str,
    parts: &Parts,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let subject = digest(subject)?;
    let filter = Query::<ReferrersQuery>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default()
        .artifact_type
        .filter(|t| !t.is_empty());
    let referrers = state
        .registry
        .referrers(&repository, &subject, filter.as_deref())
        .await?;

    let manifests: Vec<_> = referrers
        .iter()
        .map(|r| {
            let mut descriptor = json!({
                "mediaType": r.media_type,
                "digest": r.digest.as_str(),
                "size": r.size,
            });
            if let Some(artifact_type) = &r.artifact_type {
                descriptor["artifactType"] = json!(artifact_type);
            }
            if !r.annotations.is_empty() {
                descriptor["annotations"] = json!(r.annotations);
            }
            descriptor
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": manifests,
    });
    let mut response = json(media_type::OCI_INDEX, &index);
    if filter.is_some() {
        response
            .headers_mut()
            .insert(FILTERS_APPLIED.clone(), value("artifactType"));
    }
    Ok(response)
}
