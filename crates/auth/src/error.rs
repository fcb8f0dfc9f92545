//! The error type of `berth-auth`.
//!
//! Messages are written for the person who has to act on them: an operator
//! writing a role or a scope map learns which forms are accepted. Token
//! failures say what kind of check failed (structure, signature, key, time,
//! audience) and never echo the token or a secret, so they are safe to log
//! and give away nothing an attacker could use to forge a token.

/// Every failure of this crate.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A scope, role or repository pattern that does not parse; the message
    /// names the accepted forms.
    #[error("{0}")]
    InvalidScope(String),

    /// A token that is malformed, signed with an unexpected algorithm, or
    /// whose signature does not verify.
    #[error("invalid token: {0}")]
    InvalidToken(String),

    /// A token whose `exp` is in the past (beyond the allowed clock skew).
    #[error("token is expired")]
    Expired,

    /// A token whose `nbf` is in the future (beyond the allowed clock skew).
    #[error("token is not valid yet")]
    NotYetValid,

    /// A token issued for another service.
    #[error("token audience is {found:?}, expected {expected:?}")]
    WrongAudience {
        /// The audience this service accepts.
        expected: String,
        /// The audience the token names.
        found: String,
    },

    /// A token signed with a key id that is not in the key set; the caller
    /// may refetch the issuer's key set once and retry.
    #[error("token is signed with a key that is not in the key set")]
    UnknownKey,

    /// Key material that cannot be used (bad PKCS#8, no or several active
    /// keys, a JWK with missing or malformed fields).
    #[error("unusable key: {0}")]
    Key(String),

    /// Password hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),

    /// The name or secret is wrong, the principal is disabled, or its secret expired;
    /// deliberately one answer, so that it reveals nothing about which.
    #[error("the username or password is incorrect")]
    BadCredentials,

    /// Too many failed logins from the caller's address.
    #[error("too many failed logins from this address; retry in {} seconds", retry_after.as_secs().max(1))]
    Throttled {
        /// How long until attempts are accepted again.
        retry_after: std::time::Duration,
    },

    /// A token was requested for a service other than this registry.
    #[error("a token was requested for service {requested:?}, but this registry is {service:?}")]
    WrongService {
        /// What the client asked for.
        requested: String,
        /// This registry's service name.
        service: String,
    },

    /// An external token was refused by workload identity federation.
    #[error("the federated token was refused: {0}")]
    Federation(String),

    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),

    /// A principal, secret or federation that does not exist.
    #[error("{0}")]
    NotFound(String),

    /// A management request with an invalid value.
    #[error("{0}")]
    Invalid(String),

    /// The metadata store failed or refused the change.
    #[error(transparent)]
    Meta(#[from] berth_meta::MetaError),

    /// Something on the server failed.
    #[error("internal failure: {0}")]
    Internal(String),
}

impl AuthError {
    /// Whether the failure is the server's own rather than the caller's.
    pub fn is_internal(&self) -> bool {
        match self {
            AuthError::Key(_) | AuthError::Hash(_) | AuthError::Internal(_) => true,
            AuthError::Meta(err) => !matches!(
                err,
                berth_meta::MetaError::Conflict(_) | berth_meta::MetaError::NotFound(_)
            ),
            _ => false,
        }
    }

    pub(crate) fn token(reason: impl Into<String>) -> Self {
        AuthError::InvalidToken(reason.into())
    }

    pub(crate) fn scope(reason: impl Into<String>) -> Self {
        AuthError::InvalidScope(reason.into())
    }
}
