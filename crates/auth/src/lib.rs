//! Identity and access for berth: who a request comes from and what it may do.
//!
//! The pure parts — permissions and their vocabularies ([`access`]), signed tokens
//! ([`jwt`]), signing keys ([`keys`]) and secret hashing ([`password`]) — do no I/O and
//! never panic on bad input. [`authority::Authority`] builds the identity service on
//! them and on the metadata store: authentication, authorization decisions, the token
//! endpoint's logic, management of principals, and workload identity federation
//! ([`federation`]). [`audit`] records who did what. No secret, hash or token is ever
//! logged.

pub mod access;
pub mod audit;
pub mod authority;
pub mod clock;
mod error;
pub mod federation;
pub mod jwt;
pub mod keys;
pub mod password;
mod throttle;

pub use access::{Action, ActionSet, Grants, RepoPattern, RequestedScope, Role, ScopeMapEntry};
pub use error::AuthError;
pub use jwt::{check_times, peek_unverified, verify_external, Jwk, Jwks, KeyRing};
pub use keys::generate_signing_key;
pub use password::{constant_time_eq, generate_secret, hash_secret, verify_secret};
