//! `berth login`, `berth logout` and `berth get-login-password`: turning a principal's
//! name and secret into berth login tokens that docker, podman and berth itself use.
//!
//! Guarantees: a login writes docker's and podman's files only after the registry has
//! accepted the credentials, so a typo never replaces working credentials; passwords are
//! read hidden from a terminal or from standard input, never echoed, never logged; the
//! secret saved in berth's state goes to a file only its owner can read.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::{ClientError, Result};
use super::files::CredentialPaths;
use super::http::{Challenge, Credentials, Registry, TokenRequest, API_SCOPE};
use super::registry_url::RegistryUrl;
use super::state::{self, LoginState, RegistryLogin};

/// Lifetime asked for the login token that `berth login` gives docker and podman.
pub const LOGIN_TTL: u64 = 3 * 60 * 60;

/// What `berth login` was given on its command line and environment.
#[derive(Clone, Debug, Default)]
pub struct LoginInput {
    pub url: Option<String>,
    pub username: Option<String>,
    /// `-p`: on the command line, so visible to other users of the machine.
    pub password_flag: Option<String>,
    pub password_stdin: bool,
    /// `BERTH_PASSWORD`.
    pub password_env: Option<String>,
}

/// A login token and how long the server says it lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Minted {
    pub token: String,
    pub expires_in: Option<u64>,
}

/// Asks the registry for a login token with the password grant; `None` when the
/// registry has auth off and so issues none.
pub async fn mint_login_token(
    registry: &Registry,
    credentials: &Credentials,
    scope: Option<&str>,
    ttl: u64,
) -> Result<Option<Minted>> {
    let Challenge::Bearer { realm, service } = registry.challenge().await? else {
        return Ok(None);
    };
    let request = TokenRequest {
        credentials,
        scope,
        offline: true,
        login_ttl: Some(ttl),
    };
    let answer = registry.token(&realm, &service, &request).await?;
    let token = answer.refresh_token.ok_or_else(|| ClientError::Protocol {
        url: realm.to_string(),
        reason: "it issued no login token (refresh_token)".into(),
    })?;
    Ok(Some(Minted {
        token,
        expires_in: answer.refresh_expires_in,
    }))
}

/// The registry a command is about: the one named, else the login state's current one.
pub fn resolve_registry(named: Option<&str>, state: &LoginState) -> Result<RegistryUrl> {
    match named {
        Some(url) => RegistryUrl::parse(url),
        None => state.current().ok_or(ClientError::NoRegistry),
    }
}

/// Credentials for `url`: `BERTH_USERNAME` and `BERTH_PASSWORD` when both are set (they
/// override saved state, as environment overrides files everywhere in berth), else the
/// ones saved by `berth login`.
pub fn credentials_for(
    url: &RegistryUrl,
    state: &LoginState,
    env_username: Option<String>,
    env_password: Option<String>,
) -> Option<Credentials> {
    if let (Some(username), Some(secret)) = (env_username, env_password) {
        return Some(Credentials { username, secret });
    }
    let (_, login) = state.find(url)?;
    Some(Credentials {
        username: login.username.clone()?,
        secret: login.secret.clone()?,
    })
}

/// `berth login`.
pub async fn login(
    input: LoginInput,
    named_registry: Option<&str>,
    paths: &CredentialPaths,
) -> Result<()> {
    let mut login_state = LoginState::load(&paths.berth)?;
    let url = resolve_registry(input.url.as_deref().or(named_registry), &login_state)?;
    let registry = Registry::new(url.clone())?;

    if registry.challenge().await? == Challenge::Open {
        // Credentials are kept if given, for the day the registry turns auth on; none
        // are asked for.
        let password = match (&input.password_flag, input.password_stdin) {
            (Some(password), _) => Some(password.clone()),
            (None, true) => Some(read_password_stdin(std::io::stdin().lock())?),
            (None, false) => input.password_env.clone(),
        };
        let (username, secret) = match (input.username, password) {
            (Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => (Some(u), Some(p)),
            _ => (None, None),
        };
        let entry = RegistryLogin {
            username,
            secret,
            ..RegistryLogin::default()
        };
        login_state.insert(&url, entry);
        login_state.current = Some(url.to_string());
        login_state.save(&paths.berth)?;
        println!(
            "Authentication is off on {}; no credentials are needed. Saved it as the current \
             registry.",
            url.host_port()
        );
        return Ok(());
    }

    let credentials = gather_credentials(&input, &url, &login_state)?;
    let minted = mint_login_token(&registry, &credentials, Some(API_SCOPE), LOGIN_TTL)
        .await?
        .ok_or_else(|| ClientError::Protocol {
            url: url.to_string(),
            reason: "it turned authentication off during the login".into(),
        })?;

    state::store_container_auth(&paths.docker, &url, &minted.token)?;
    state::store_container_auth(&paths.podman, &url, &minted.token)?;
    login_state.insert(
        &url,
        RegistryLogin {
            username: Some(credentials.username.clone()),
            secret: Some(credentials.secret),
            ..RegistryLogin::default()
        },
    );
    login_state.current = Some(url.to_string());
    login_state.save(&paths.berth)?;

    let expires = rfc3339_after(SystemTime::now(), minted.expires_in.unwrap_or(LOGIN_TTL));
    println!(
        "Login succeeded for {} as {}; docker and podman credentials expire at {expires}.",
        url.host_port(),
        credentials.username
    );
    Ok(())
}

/// Username and password from flags, environment, standard input, a terminal prompt,
/// or (with none of those) the ones saved for this registry.
fn gather_credentials(
    input: &LoginInput,
    url: &RegistryUrl,
    saved: &LoginState,
) -> Result<Credentials> {
    let explicit_password = input.password_flag.is_some() || input.password_stdin;
    if input.username.is_none() && !explicit_password && input.password_env.is_none() {
        if let Some(found) = credentials_for(url, saved, None, None) {
            return Ok(found);
        }
    }
    if input.password_flag.is_some() {
        eprintln!(
            "berth: warning: a password on the command line can be seen by other users of \
             this machine; prefer --password-stdin"
        );
    }

    let interactive = std::io::stdin().is_terminal() && !input.password_stdin;
    let username = match &input.username {
        Some(username) => username.clone(),
        None if interactive => prompt_line("Username: ")?,
        None => {
            return Err(ClientError::usage(
                "no username given; pass -u/--username or set BERTH_USERNAME",
            ))
        }
    };
    if username.is_empty() {
        return Err(ClientError::usage(
            "the username is empty; pass -u/--username",
        ));
    }
    let secret = if let Some(password) = &input.password_flag {
        password.clone()
    } else if input.password_stdin {
        read_password_stdin(std::io::stdin().lock())?
    } else if let Some(password) = &input.password_env {
        password.clone()
    } else if interactive {
        rpassword::prompt_password("Password: ").map_err(|source| ClientError::Input {
            what: "the password",
            source,
        })?
    } else {
        return Err(ClientError::usage(
            "no password given; pass --password-stdin or set BERTH_PASSWORD",
        ));
    };
    if secret.is_empty() {
        return Err(ClientError::usage("the password is empty"));
    }
    Ok(Credentials { username, secret })
}

/// The password from standard input: everything up to the end, without the final line
/// break that `echo` and here-strings add.
pub fn read_password_stdin(mut input: impl Read) -> Result<String> {
    let mut text = String::new();
    input
        .read_to_string(&mut text)
        .map_err(|source| ClientError::Input {
            what: "the password from standard input",
            source,
        })?;
    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
    Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_string())
}

fn prompt_line(prompt: &str) -> Result<String> {
    let mut stderr = std::io::stderr();
    let _ = stderr.write_all(prompt.as_bytes());
    let _ = stderr.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|source| ClientError::Input {
            what: "the username",
            source,
        })?;
    Ok(line.trim().to_string())
}

/// `berth logout`: removes the registry from docker's, podman's and berth's files.
pub fn logout(
    url: Option<&str>,
    named_registry: Option<&str>,
    paths: &CredentialPaths,
) -> Result<()> {
    let mut login_state = LoginState::load(&paths.berth)?;
    let url = resolve_registry(url.or(named_registry), &login_state)?;
    let mut removed = Vec::new();
    if state::erase_container_auth(&paths.docker, &url)? {
        removed.push("docker");
    }
    if state::erase_container_auth(&paths.podman, &url)? {
        removed.push("podman");
    }
    if login_state.remove(&url) {
        login_state.save(&paths.berth)?;
        removed.push("berth");
    }
    if removed.is_empty() {
        println!(
            "No credentials for {} were saved; nothing to remove.",
            url.host_port()
        );
    } else {
        println!(
            "Removed the credentials for {} from {}.",
            url.host_port(),
            removed.join(", ")
        );
    }
    Ok(())
}

/// `berth get-login-password`: prints a fresh login token and nothing else.
pub async fn get_login_password(
    named_registry: Option<&str>,
    expires_in: u64,
    paths: &CredentialPaths,
) -> Result<()> {
    let login_state = LoginState::load(&paths.berth)?;
    let url = resolve_registry(named_registry, &login_state)?;
    let registry = Registry::new(url.clone())?;
    let auth_off = || {
        ClientError::usage(format!(
            "{} has authentication off, so there is no password to get",
            url.host_port()
        ))
    };
    let env = (env_var("BERTH_USERNAME"), env_var("BERTH_PASSWORD"));
    let Some(credentials) = credentials_for(&url, &login_state, env.0, env.1) else {
        return Err(match registry.challenge().await? {
            Challenge::Open => auth_off(),
            Challenge::Bearer { .. } => ClientError::NotLoggedIn {
                registry: url.host_port(),
            },
        });
    };
    let minted = mint_login_token(&registry, &credentials, None, expires_in)
        .await?
        .ok_or_else(auth_off)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", minted.token)
        .and_then(|()| out.flush())
        .map_err(ClientError::Stdout)
}

/// A set, non-empty environment variable.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `at + seconds` as RFC 3339 in UTC, e.g. `2026-12-03T19:00:00Z`.
pub fn rfc3339_after(at: SystemTime, seconds: u64) -> String {
    let when = at + Duration::from_secs(seconds);
    let millis = when
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    berth_auth::clock::format_rfc3339(millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    #[test]
    fn times_are_rfc3339_utc() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(rfc3339_after(at(0), 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_after(at(1_700_000_000), 0), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_after(at(951_782_400), 0), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_after(at(4_102_444_799), 0), "2099-12-31T23:59:59Z");
        assert_eq!(
            rfc3339_after(at(1_796_313_600), 10_800),
            "2026-12-03T19:00:00Z"
        );
    }

    #[test]
    fn password_from_stdin_loses_only_the_final_line_break() {
        assert_eq!(read_password_stdin(&b"s3cret\n"[..]).unwrap(), "s3cret");
        assert_eq!(read_password_stdin(&b"s3cret\r\n"[..]).unwrap(), "s3cret");
        assert_eq!(read_password_stdin(&b"s3cret"[..]).unwrap(), "s3cret");
        assert_eq!(read_password_stdin(&b" a b \n\n"[..]).unwrap(), " a b \n");
        assert!(read_password_stdin(&[0xff, 0xfe][..]).is_err());
    }

    fn saved(url: &str, user: Option<&str>, secret: Option<&str>) -> LoginState {
        let mut state = LoginState::default();
        state.insert(
            &RegistryUrl::parse(url).unwrap(),
            RegistryLogin {
                username: user.map(str::to_string),
                secret: secret.map(str::to_string),
                other: Map::new(),
            },
        );
        state.current = Some(RegistryUrl::parse(url).unwrap().to_string());
        state
    }

    #[test]
    fn the_named_registry_wins_over_the_current_one() {
        let state = saved("127.0.0.1:5000", Some("u"), Some("s"));
        let named = resolve_registry(Some("h.example"), &state).unwrap();
        assert_eq!(named.to_string(), "https://h.example");
        let current = resolve_registry(None, &state).unwrap();
        assert_eq!(current.to_string(), "http://127.0.0.1:5000");
        let err = resolve_registry(None, &LoginState::default()).unwrap_err();
        assert!(matches!(err, ClientError::NoRegistry));
    }

    #[test]
    fn environment_credentials_override_saved_ones_only_when_complete() {
        let url = RegistryUrl::parse("127.0.0.1:5000").unwrap();
        let state = saved("http://127.0.0.1:5000/", Some("u"), Some("s"));
        let from_state = credentials_for(&url, &state, Some("e".into()), None).unwrap();
        assert_eq!(from_state.username, "u");
        let from_env = credentials_for(&url, &state, Some("e".into()), Some("p".into())).unwrap();
        assert_eq!(
            (from_env.username.as_str(), from_env.secret.as_str()),
            ("e", "p")
        );

        let other = RegistryUrl::parse("127.0.0.1:5001").unwrap();
        assert!(credentials_for(&other, &state, None, None).is_none());
        let open = saved("127.0.0.1:5000", None, None);
        assert!(credentials_for(&url, &open, None, None).is_none());
    }
}
