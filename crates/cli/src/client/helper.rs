//! Docker's credential helper protocol (`docker-credential-berth get|store|erase|list`),
//! backed by berth's login state.
//!
//! Instead of a long-lived secret, `get` hands docker a login token minted on the spot
//! from the saved credentials, so what docker caches expires in hours. Guarantees: the
//! answers are exactly the protocol's JSON; an unknown registry answers
//! `credentials not found in native keychain` on standard output with exit status 1,
//! the text docker and podman recognise; `erase` of an unknown registry succeeds.

use std::io::{Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{ClientError, Result};
use super::http::{Credentials, Registry};
use super::login::{self, LOGIN_TTL};
use super::registry_url::RegistryUrl;
use super::state::{LoginState, RegistryLogin, TOKEN_USERNAME};

/// The message docker and podman take to mean "no credentials here".
pub const NOT_FOUND: &str = "credentials not found in native keychain";

/// The protocol's operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Operation {
    /// Print credentials for the server URL read from standard input.
    Get,
    /// Save the credentials read (as JSON) from standard input.
    Store,
    /// Forget the server URL read from standard input.
    Erase,
    /// Print every saved server URL with its user name.
    List,
    /// Print the helper's version.
    Version,
}

impl Operation {
    pub fn parse(op: &str) -> Option<Operation> {
        <Operation as clap::ValueEnum>::from_str(op, false).ok()
    }
}

/// How an operation ended, for the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// `get` found nothing; [`NOT_FOUND`] was written and the exit status is 1.
    NotFound,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    #[serde(rename = "ServerURL")]
    server_url: String,
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Runs one operation over real HTTP: `get` mints a login token at the registry.
pub fn credential_helper(
    op: Operation,
    input: impl Read,
    output: impl Write,
    state_path: &Path,
) -> Result<Outcome> {
    run(op, input, output, state_path, mint_blocking)
}

/// Runs one operation with `mint` turning saved credentials into a login token
/// (`Ok(None)` when the registry needs none).
pub fn run(
    op: Operation,
    mut input: impl Read,
    mut output: impl Write,
    state_path: &Path,
    mint: impl FnOnce(&RegistryUrl, &Credentials) -> Result<Option<String>>,
) -> Result<Outcome> {
    let mut text = String::new();
    if op != Operation::List && op != Operation::Version {
        input
            .read_to_string(&mut text)
            .map_err(|source| ClientError::Input {
                what: "the request on standard input",
                source,
            })?;
    }
    let reply = match op {
        Operation::Get => get(text.trim(), state_path, mint)?,
        Operation::Store => {
            store(&text, state_path)?;
            Some(String::new())
        }
        Operation::Erase => {
            erase(text.trim(), state_path)?;
            Some(String::new())
        }
        Operation::List => Some(list(state_path)?),
        Operation::Version => Some(format!(
            "docker-credential-berth (berth) {}\n",
            env!("CARGO_PKG_VERSION")
        )),
    };
    let (bytes, outcome) = match reply {
        Some(text) => (text, Outcome::Done),
        None => (format!("{NOT_FOUND}\n"), Outcome::NotFound),
    };
    output
        .write_all(bytes.as_bytes())
        .and_then(|()| output.flush())
        .map_err(ClientError::Stdout)?;
    Ok(outcome)
}

/// The JSON answer for `server`, or `None` when berth has nothing for it.
fn get(
    server: &str,
    state_path: &Path,
    mint: impl FnOnce(&RegistryUrl, &Credentials) -> Result<Option<String>>,
) -> Result<Option<String>> {
    // An address that does not parse is some other tool's business, not an error here.
    let Ok(url) = RegistryUrl::parse(server) else {
        return Ok(None);
    };
    let state = LoginState::load(state_path)?;
    let Some(credentials) = login::credentials_for(&url, &state, None, None) else {
        return Ok(None);
    };
    let Some(token) = mint(&url, &credentials)? else {
        return Ok(None);
    };
    let entry = Entry {
        server_url: server.to_string(),
        username: TOKEN_USERNAME.to_string(),
        secret: token,
    };
    Ok(Some(
        serde_json::to_string(&entry).expect("entry serialises") + "\n",
    ))
}

fn store(request: &str, state_path: &Path) -> Result<()> {
    let entry: Entry = serde_json::from_str(request).map_err(|err| {
        ClientError::usage(format!(
            "store expects {{\"ServerURL\",\"Username\",\"Secret\"}} as JSON on standard input ({err})"
        ))
    })?;
    let url = RegistryUrl::parse(&entry.server_url)?;
    if entry.username.is_empty() || entry.secret.is_empty() {
        return Err(ClientError::usage(
            "store needs a non-empty Username and Secret",
        ));
    }
    let mut state = LoginState::load(state_path)?;
    state.insert(
        &url,
        RegistryLogin {
            username: Some(entry.username),
            secret: Some(entry.secret),
            ..RegistryLogin::default()
        },
    );
    // The first registry saved becomes the one berth commands use by default.
    if state.current().is_none() {
        state.current = Some(url.to_string());
    }
    state.save(state_path)
}

fn erase(server: &str, state_path: &Path) -> Result<()> {
    let Ok(url) = RegistryUrl::parse(server) else {
        return Ok(());
    };
    let mut state = LoginState::load(state_path)?;
    if state.remove(&url) {
        state.save(state_path)?;
    }
    Ok(())
}

fn list(state_path: &Path) -> Result<String> {
    let state = LoginState::load(state_path)?;
    let entries: serde_json::Map<String, serde_json::Value> = state
        .registries
        .iter()
        .filter_map(|(url, login)| Some((url.clone(), login.username.clone()?.into())))
        .collect();
    Ok(serde_json::Value::Object(entries).to_string() + "\n")
}

/// Mints a login token on a runtime of its own: the helper runs outside any other.
fn mint_blocking(url: &RegistryUrl, credentials: &Credentials) -> Result<Option<String>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ClientError::Runtime)?;
    runtime.block_on(async {
        let registry = Registry::new(url.clone())?;
        let minted = login::mint_login_token(&registry, credentials, None, LOGIN_TTL).await?;
        Ok(minted.map(|m| m.token))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::cell::RefCell;

    struct Fixture {
        _dir: tempfile::TempDir,
        state: std::path::PathBuf,
    }

    fn fixture(initial: Option<Value>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("berth.json");
        if let Some(initial) = initial {
            std::fs::write(&state, initial.to_string()).unwrap();
        }
        Fixture { _dir: dir, state }
    }

    fn no_mint(_: &RegistryUrl, _: &Credentials) -> Result<Option<String>> {
        panic!("nothing should be minted")
    }

    fn call(
        op: Operation,
        input: &str,
        state: &Path,
        mint: impl FnOnce(&RegistryUrl, &Credentials) -> Result<Option<String>>,
    ) -> (Result<Outcome>, String) {
        let mut out = Vec::new();
        let result = run(op, input.as_bytes(), &mut out, state, mint);
        (result, String::from_utf8(out).unwrap())
    }

    fn saved() -> Value {
        json!({
            "current": "http://127.0.0.1:5000",
            "registries": {"http://127.0.0.1:5000": {"username": "ci", "secret": "pw"}}
        })
    }

    #[test]
    fn get_mints_a_token_with_the_saved_credentials() {
        let f = fixture(Some(saved()));
        let seen = RefCell::new(None);
        let (result, out) = call(
            Operation::Get,
            "127.0.0.1:5000\n",
            &f.state,
            |url, creds| {
                *seen.borrow_mut() = Some((url.to_string(), creds.clone()));
                Ok(Some("login.token.jwt".into()))
            },
        );
        assert_eq!(result.unwrap(), Outcome::Done);
        let answer: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            answer,
            json!({
                "ServerURL": "127.0.0.1:5000",
                "Username": "00000000-0000-0000-0000-000000000000",
                "Secret": "login.token.jwt"
            })
        );
        let (url, creds) = seen.into_inner().unwrap();
        assert_eq!(url, "http://127.0.0.1:5000");
        assert_eq!(
            (creds.username.as_str(), creds.secret.as_str()),
            ("ci", "pw")
        );
    }

    #[test]
    fn get_matches_by_host_and_port_and_echoes_the_url_as_given() {
        let f = fixture(Some(saved()));
        let (result, out) = call(
            Operation::Get,
            "http://127.0.0.1:5000/",
            &f.state,
            |_, _| Ok(Some("t".into())),
        );
        assert_eq!(result.unwrap(), Outcome::Done);
        assert!(
            out.contains(r#""ServerURL":"http://127.0.0.1:5000/""#),
            "{out}"
        );
    }

    #[test]
    fn get_of_an_unknown_registry_says_not_found() {
        let f = fixture(Some(saved()));
        for server in [
            "127.0.0.1:5001",
            "https://index.docker.io/v1/",
            "",
            "::bad::",
        ] {
            let (result, out) = call(Operation::Get, server, &f.state, no_mint);
            assert_eq!(result.unwrap(), Outcome::NotFound, "{server}");
            assert_eq!(out, "credentials not found in native keychain\n");
        }
        let empty = fixture(None);
        let (result, _) = call(Operation::Get, "127.0.0.1:5000", &empty.state, no_mint);
        assert_eq!(result.unwrap(), Outcome::NotFound);
    }

    #[test]
    fn get_when_the_registry_needs_no_token_says_not_found() {
        let f = fixture(Some(saved()));
        let (result, out) = call(Operation::Get, "127.0.0.1:5000", &f.state, |_, _| Ok(None));
        assert_eq!(result.unwrap(), Outcome::NotFound);
        assert_eq!(out.trim(), NOT_FOUND);
    }

    #[test]
    fn get_reports_a_refusal_as_an_error_and_prints_nothing() {
        let f = fixture(Some(saved()));
        let (result, out) = call(Operation::Get, "127.0.0.1:5000", &f.state, |_, _| {
            Err(ClientError::Server {
                status: 401,
                message: "invalid credentials".into(),
            })
        });
        assert!(matches!(
            result,
            Err(ClientError::Server { status: 401, .. })
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn store_then_list_then_erase() {
        let f = fixture(Some(json!({"keep": "me"})));
        let request = r#"{"ServerURL":"127.0.0.1:5000","Username":"ci","Secret":"s"}"#;
        let (result, out) = call(Operation::Store, request, &f.state, no_mint);
        assert_eq!(result.unwrap(), Outcome::Done);
        assert!(out.is_empty());
        let other = r#"{"ServerURL":"https://h.example/","Username":"bob","Secret":"t"}"#;
        call(Operation::Store, other, &f.state, no_mint).0.unwrap();

        let (_, listed) = call(Operation::List, "", &f.state, no_mint);
        let listed: Value = serde_json::from_str(&listed).unwrap();
        assert_eq!(
            listed,
            json!({"http://127.0.0.1:5000": "ci", "https://h.example": "bob"})
        );
        let state = LoginState::load(&f.state).unwrap();
        assert_eq!(state.current.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(state.other["keep"], "me");

        let (result, _) = call(Operation::Erase, "127.0.0.1:5000\n", &f.state, no_mint);
        assert_eq!(result.unwrap(), Outcome::Done);
        let (_, listed) = call(Operation::List, "", &f.state, no_mint);
        assert_eq!(listed, "{\"https://h.example\":\"bob\"}\n");
        let (result, _) = call(Operation::Erase, "127.0.0.1:5000", &f.state, no_mint);
        assert_eq!(result.unwrap(), Outcome::Done, "erasing twice is fine");
    }

    #[test]
    fn bad_store_requests_are_refused_and_change_nothing() {
        let f = fixture(Some(saved()));
        let before = std::fs::read(&f.state).unwrap();
        for bad in [
            "not json",
            r#"{"ServerURL":"127.0.0.1:5000"}"#,
            r#"{"ServerURL":"ftp://x","Username":"u","Secret":"s"}"#,
            r#"{"ServerURL":"127.0.0.1:5000","Username":"","Secret":"s"}"#,
        ] {
            let (result, _) = call(Operation::Store, bad, &f.state, no_mint);
            assert!(result.is_err(), "{bad}");
        }
        assert_eq!(std::fs::read(&f.state).unwrap(), before);
    }

    #[test]
    fn list_of_nothing_is_an_empty_object() {
        let f = fixture(None);
        let (result, out) = call(Operation::List, "", &f.state, no_mint);
        assert_eq!(result.unwrap(), Outcome::Done);
        assert_eq!(out, "{}\n");
        assert!(!f.state.exists(), "listing creates no file");
    }

    #[test]
    fn operations_parse_by_name() {
        assert_eq!(Operation::parse("get"), Some(Operation::Get));
        assert_eq!(Operation::parse("erase"), Some(Operation::Erase));
        assert_eq!(Operation::parse("GET"), None);
        assert_eq!(Operation::parse("delete"), None);
    }
}
