//! The one error type of the client commands.
//!
//! Every variant's message is a complete sentence a person can act on; `main` prints it
//! after `berth: ` and exits with status 1. Server messages are carried verbatim.

use std::path::PathBuf;

use super::output::QueryFailed;

/// A failure of a client command (login, credential helper, management calls).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Flags or arguments that do not make sense together.
    #[error("{0}")]
    Usage(String),

    /// A registry address that cannot be understood.
    #[error("{input:?} is not a registry address ({reason}); give it as host:port or a URL such as https://registry.example.com")]
    BadUrl { input: String, reason: String },

    /// No registry was named and no login state names a current one.
    #[error("no registry given; pass --registry URL, set BERTH_REGISTRY, or run `berth login URL` first")]
    NoRegistry,

    /// The command needs credentials and none are known for this registry.
    #[error("not logged in to {registry}; run `berth login {registry}` or set BERTH_USERNAME and BERTH_PASSWORD")]
    NotLoggedIn { registry: String },

    /// A local file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// A local JSON file exists but is not what it should be.
    #[error("{} is not valid ({reason}); fix it or move it away and try again", path.display())]
    BadFile { path: PathBuf, reason: String },

    /// The registry could not be reached at all.
    #[error("cannot reach {url} ({cause}); check the address and that the registry is running")]
    Unreachable { url: String, cause: String },

    /// The registry answered with an error; `message` is the server's own words.
    #[error("{message} ({status}){}", hint(*status, message))]
    Server { status: u16, message: String },

    /// The registry answered something this client does not understand.
    #[error("unexpected answer from {url}: {reason}; is this a berth registry?")]
    Protocol { url: String, reason: String },

    /// Reading from the terminal or standard input failed.
    #[error("cannot read {what}: {source}")]
    Input {
        what: &'static str,
        source: std::io::Error,
    },

    /// Standard output is gone (a closed pipe, a full disk), or `--query` could not be
    /// applied to the result (which printing reports as an I/O error).
    #[error("{}", stdout_failure(.0))]
    Stdout(std::io::Error),

    /// `--query` is not a JMESPath expression.
    #[error(transparent)]
    Query(#[from] QueryFailed),

    /// The async runtime could not start (out of threads or file descriptors).
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),

    /// The person declined a confirmation.
    #[error("cancelled; nothing was changed")]
    Cancelled,
}

fn stdout_failure(err: &std::io::Error) -> String {
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<QueryFailed>())
    {
        Some(query) => query.to_string(),
        None => format!("cannot write to standard output: {err}"),
    }
}

/// What to do next for the statuses where the server's message alone may not say it.
fn hint(status: u16, message: &str) -> &'static str {
    match status {
        401 => "; check the credentials, or run `berth login` again",
        // A lock refuses everyone, and its message already says how to lift it.
        403 if message.contains(" is locked: ") => "",
        403 => "; a registry owner can grant the role this needs (`berth role assign`)",
        429 => "; too many failed attempts from this address, wait a while and retry",
        _ => "",
    }
}

impl ClientError {
    pub fn usage(message: impl Into<String>) -> ClientError {
        ClientError::Usage(message.into())
    }

    pub fn file(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ClientError::File {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results of client commands.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_are_verbatim_with_status_and_a_hint_where_useful() {
        let conflict = ClientError::Server {
            status: 409,
            message: "principal ci already exists".into(),
        };
        assert_eq!(conflict.to_string(), "principal ci already exists (409)");

        let denied = ClientError::Server {
            status: 401,
            message: "invalid credentials".into(),
        };
        assert!(denied
            .to_string()
            .starts_with("invalid credentials (401); "));
        assert!(denied.to_string().contains("berth login"));
    }
}
