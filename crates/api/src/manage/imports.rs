//! Image imports: `POST /api/v1/imports` copies an image from another registry into one
//! repository (in the manner of `az acr import`), `GET /api/v1/imports/{id}` reports on it.
//!
//! The registry does the copying in a background task, so the caller needs no access to
//! the bytes and the request answers at once with 202 and the job's `Location`. The
//! request is checked before the job starts (names, tags, reference, mode, the source's
//! address) and needs push on the target repository, as a push does; reading a job needs
//! read access to its target. Jobs live in this node's memory: they are lost when the
//! process stops (what they stored stays) and are not visible on other nodes; the most
//! recent [`MAX_JOBS`] are kept. The source password is used for the copy and then
//! dropped: it is never logged, audited or reported.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use berth_auth::access::Action;
use berth_auth::audit::{outcome, AuditEntry};
use berth_oci::{Reference, RepositoryName, Tag};
use berth_registry::{ImportMode, ImportProgress, Imported};
use berth_remote::{Credentials, RemoteOptions, RemoteSource};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{actor, json_reply, optional_time, parse_body, time, ApiResult, Shared};
use crate::error::ApiError;

/// Jobs kept in memory; starting one more forgets the oldest finished one.
pub const MAX_JOBS: usize = 1000;

/// The import jobs of this node.
#[derive(Default)]
pub struct Jobs {
    jobs: Mutex<VecDeque<Arc<Job>>>,
}

impl Jobs {
    fn add(&self, job: Arc<Job>) {
        let mut jobs = self.jobs.lock().expect("not poisoned");
        while jobs.len() >= MAX_JOBS {
            match jobs.iter().position(|j| !j.is_running()) {
                Some(finished) => drop(jobs.remove(finished)),
                None => break,
            }
        }
        jobs.push_back(job);
    }

    fn get(&self, id: &str) -> Option<Arc<Job>> {
        let jobs = self.jobs.lock().expect("not poisoned");
        jobs.iter().find(|j| j.id == id).cloned()
    }
}

/// One import, as reported.
struct Job {
    id: String,
    source: String,
    repository: RepositoryName,
    tags: Vec<Tag>,
    mode: ImportMode,
    created_at: i64,
    progress: Arc<ImportProgress>,
    state: Mutex<JobState>,
}

enum JobState {
    Running,
    Succeeded {
        at: i64,
        imported: Imported,
    },
    Failed {
        at: i64,
        code: &'static str,
        message: String,
    },
}

impl Job {
    fn is_running(&self) -> bool {
        matches!(*self.state.lock().expect("not poisoned"), JobState::Running)
    }

    fn json(&self) -> Value {
        let p = self.progress.snapshot();
        let mut value = json!({
            "id": self.id,
            "source": self.source,
            "target_repository": self.repository.as_str(),
            "target_tags": self.tags.iter().map(Tag::as_str).collect::<Vec<_>>(),
            "mode": mode_name(self.mode),
            "created_at": time(self.created_at),
            "progress": {
                "manifests_total": p.manifests_total,
                "manifests_done": p.manifests_done,
                "blobs_total": p.blobs_total,
                "blobs_done": p.blobs_done,
                "bytes_total": p.bytes_total,
                "bytes_done": p.bytes_done,
            },
            "status": "running",
            "finished_at": null,
            "digest": null,
            "media_type": null,
            "error": null,
        });
        match &*self.state.lock().expect("not poisoned") {
            JobState::Running => {}
            JobState::Succeeded { at, imported } => {
                value["status"] = json!("succeeded");
                value["finished_at"] = optional_time(Some(*at));
                value["digest"] = json!(imported.digest.as_str());
                value["media_type"] = json!(imported.media_type);
                value["manifests"] = json!(imported.manifests);
                value["blobs_copied"] = json!(imported.blobs_copied);
                value["blobs_present"] = json!(imported.blobs_present);
                value["bytes_copied"] = json!(imported.bytes_copied);
            }
            JobState::Failed { at, code, message } => {
                value["status"] = json!("failed");
                value["finished_at"] = optional_time(Some(*at));
                value["error"] = json!({ "code": code, "message": message });
            }
        }
        value
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    source: SourceBody,
    target: TargetBody,
    #[serde(default)]
    mode: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceBody {
    registry: String,
    repository: String,
    reference: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    /// Plain HTTP to a host that is not loopback.
    #[serde(default)]
    plain_http: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetBody {
    repository: String,
    #[serde(default)]
    tags: Vec<String>,
}

fn mode_name(mode: ImportMode) -> &'static str {
    match mode {
        ImportMode::Force => "Force",
        ImportMode::NoForce => "NoForce",
    }
}

fn parse_mode(text: Option<&str>) -> Result<ImportMode, ApiError> {
    match text {
        None => Ok(ImportMode::NoForce),
        Some(m) if m.eq_ignore_ascii_case("noforce") => Ok(ImportMode::NoForce),
        Some(m) if m.eq_ignore_ascii_case("force") => Ok(ImportMode::Force),
        Some(other) => Err(ApiError::BodyInvalid {
            reason: format!("mode {other:?} is neither Force nor NoForce"),
        }),
    }
}

fn invalid(reason: String) -> ApiError {
    ApiError::BodyInvalid { reason }
}

/// `POST /api/v1/imports`: checks the request and starts the import.
pub(super) async fn start(State(state): Shared, parts: Parts, body: Bytes) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    let body: ImportBody = parse_body(&body)?;
    let repository = RepositoryName::parse(&body.target.repository)
        .map_err(|err| invalid(format!("target.repository: {err}")))?;
    let tags = body
        .target
        .tags
        .iter()
        .map(|t| Tag::parse(t).map_err(|err| invalid(format!("target.tags: {err}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let reference = Reference::parse(&body.source.reference)
        .map_err(|err| invalid(format!("source.reference: {err}")))?;
    let mode = parse_mode(body.mode.as_deref())?;
    actor.require(repository.as_str(), Action::Push, "push to")?;

    let credentials = match (body.source.username, body.source.password) {
        (Some(username), Some(password)) => Some(Credentials { username, password }),
        (None, None) => None,
        _ => {
            return Err(invalid(
                "source.username and source.password go together; give both or neither".into(),
            ))
        }
    };
    let options = RemoteOptions {
        credentials,
        plain_http: body.source.plain_http,
        destinations: state.import_destinations.clone(),
    };
    let remote = RemoteSource::new(&body.source.registry, &body.source.repository, options)
        .map_err(|err| invalid(err.to_string()))?;
    let separator = if matches!(reference, Reference::Digest(_)) {
        '@'
    } else {
        ':'
    };
    let job = Arc::new(Job {
        id: uuid::Uuid::new_v4().simple().to_string(),
        source: format!(
            "{}/{}{separator}{reference}",
            body.source.registry, body.source.repository
        ),
        repository,
        tags,
        mode,
        created_at: now_millis(),
        progress: Arc::default(),
        state: Mutex::new(JobState::Running),
    });
    state.imports.add(job.clone());
    tracing::info!(
        import = job.id.as_str(),
        source = job.source.as_str(),
        repository = job.repository.as_str(),
        "import started"
    );

    let task_state = state.clone();
    let task_job = job.clone();
    let principal = actor.name.clone();
    let address = actor.source;
    tokio::spawn(async move {
        let (state, job) = (task_state, task_job);
        let result = state
            .registry
            .import(
                &remote,
                &reference,
                &job.repository,
                &job.tags,
                job.mode,
                &job.progress,
            )
            .await;
        let tags: Vec<&str> = job.tags.iter().map(Tag::as_str).collect();
        let detail = format!(
            "source={} tags={} mode={}",
            job.source,
            tags.join(","),
            mode_name(job.mode)
        );
        let finished = match result {
            Ok(imported) => {
                state.audit.record(AuditEntry {
                    principal,
                    action: "import",
                    repository: Some(job.repository.to_string()),
                    digest: Some(imported.digest.to_string()),
                    source: Some(address),
                    outcome: outcome::SUCCEEDED,
                    detail,
                });
                JobState::Succeeded {
                    at: now_millis(),
                    imported,
                }
            }
            Err(err) => {
                let message = if err.is_internal() {
                    tracing::error!(import = job.id.as_str(), err = ?err, "import failed");
                    "the registry failed to store the import; retry, and report it if it persists"
                        .to_string()
                } else {
                    tracing::info!(import = job.id.as_str(), err = %err, "import refused");
                    err.to_string()
                };
                state.audit.record(AuditEntry {
                    principal,
                    action: "import",
                    repository: Some(job.repository.to_string()),
                    digest: None,
                    source: Some(address),
                    outcome: outcome::FAILED,
                    detail: format!("{detail} error={message}"),
                });
                JobState::Failed {
                    at: now_millis(),
                    code: err.code().as_str(),
                    message,
                }
            }
        };
        *job.state.lock().expect("not poisoned") = finished;
    });

    let mut response = json_reply(StatusCode::ACCEPTED, job.json());
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/imports/{}", job.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /api/v1/imports/{id}`: the job's status, progress and result.
pub(super) async fn show(State(state): Shared, Path(id): Path<String>, parts: Parts) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    let not_found = || ApiError::NotFound {
        message: format!(
            "import {id} is not known to this node; jobs are kept in memory until it restarts"
        ),
    };
    let job = state.imports.get(&id).ok_or_else(not_found)?;
    // Refused like an unknown id, so ids do not reveal imports into hidden repositories.
    actor
        .require_read(job.repository.as_str())
        .map_err(|_| not_found())?;
    Ok(json_reply(StatusCode::OK, job.json()))
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
