//! The client side of the `berth` binary: logging in, docker's credential helper, and
//! the management commands over the registry's HTTP API (`/token`, `/api/v1`).
//!
//! Guarantees: every failure ends as one line `berth: <what went wrong and what to do>`
//! on standard error with exit status 1; results go to standard output in the chosen
//! format (`-o table|json|tsv|text`, reduced first by `--query`) and nothing else does,
//! so they can be piped.

mod error;
mod files;
mod helper;
mod http;
mod import;
mod login;
mod manage;
mod output;
mod progress;
mod registry_url;
mod repository;
mod state;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Args, Subcommand};

pub use error::ClientError;
use error::Result;
use files::CredentialPaths;
use helper::{Operation, Outcome};
pub use manage::{
    AuditArgs, FederationAction, PrincipalAction, RegistryAction, RoleAction, SigningKeyAction,
    TokenAction,
};
use output::Format;
pub use repository::RepositoryAction;

/// The file name under which the binary acts as docker's credential helper.
pub const HELPER_NAME: &str = "docker-credential-berth";

/// Options every client command takes.
#[derive(Args, Clone, Debug, Default)]
pub struct CommonOpts {
    /// Registry URL or host:port [default: the current registry of `berth login`].
    #[arg(long, env = "BERTH_REGISTRY", global = true, value_name = "URL")]
    pub registry: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table, global = true)]
    pub output: Format,
    /// A JMESPath expression applied to the JSON result before it is shown, e.g. `[].name`.
    #[arg(long, global = true, value_name = "EXPR")]
    pub query: Option<String>,
}

/// Client commands, flattened into `berth`'s own.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Log in to a registry; saves credentials for berth, docker and podman.
    Login(LoginArgs),
    /// Remove a registry's credentials from berth's, docker's and podman's files.
    Logout(LogoutArgs),
    /// Print a fresh login token, for `docker login --password-stdin`.
    GetLoginPassword(GetLoginPasswordArgs),
    /// Docker's credential helper protocol (also run as `docker-credential-berth`).
    CredentialHelper(CredentialHelperArgs),
    /// Manage service principals (non-human identities with secrets).
    #[command(name = "sp")]
    Sp(Group<PrincipalAction>),
    /// Manage users.
    User(Group<PrincipalAction>),
    /// Manage repository-scoped tokens (scope maps, like `az acr token`).
    Token(Group<TokenAction>),
    /// Assign, list and remove roles.
    Role(Group<RoleAction>),
    /// Manage workload identity federations (external OIDC issuers).
    Federation(Group<FederationAction>),
    /// Repositories, their tags and images: create, list, show, update, delete, tag.
    Repository(Group<RepositoryAction>),
    /// Registry-wide settings and usage.
    Registry(Group<RegistryAction>),
    /// Token signing keys.
    SigningKey(Group<SigningKeyAction>),
    /// Show the audit log, newest first.
    Audit(AuditArgs),
    /// Show who the saved credentials authenticate as.
    Whoami(Plain),
    /// Copy an image from another registry (the registry copies; like `az acr import`).
    Import(import::ImportArgs),
}

/// A command group: the common options and one action.
#[derive(Args, Debug)]
pub struct Group<A: Subcommand> {
    #[command(flatten)]
    pub common: CommonOpts,
    #[command(subcommand)]
    pub action: A,
}

/// A command with only the common options.
#[derive(Args, Debug)]
pub struct Plain {
    #[command(flatten)]
    pub common: CommonOpts,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Registry URL or host:port (plain http for loopback hosts, else https).
    #[arg(value_name = "URL")]
    pub url: Option<String>,
    /// Principal name.
    #[arg(short, long, env = "BERTH_USERNAME")]
    pub username: Option<String>,
    /// Secret (visible to other users; prefer --password-stdin or BERTH_PASSWORD).
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the secret from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub common: CommonOpts,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Registry URL or host:port [default: the current registry].
    #[arg(value_name = "URL")]
    pub url: Option<String>,
    #[command(flatten)]
    pub common: CommonOpts,
}

#[derive(Args, Debug)]
pub struct GetLoginPasswordArgs {
    /// Lifetime of the login token in seconds (the server may cap it).
    #[arg(long, default_value_t = 43_200, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub expires_in: u64,
    #[command(flatten)]
    pub common: CommonOpts,
}

#[derive(Args, Debug)]
pub struct CredentialHelperArgs {
    /// The protocol operation; its input is read from standard input.
    #[arg(value_enum)]
    pub operation: Operation,
}

/// Runs a client command and turns its result into the exit status.
pub fn run(command: ClientCommand) -> ExitCode {
    let result = match command {
        ClientCommand::CredentialHelper(args) => run_helper(args.operation),
        other => run_async(other).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|err| {
        eprintln!("berth: {err}");
        ExitCode::FAILURE
    })
}

/// Whether argv[0] asks for the credential helper (`docker-credential-berth`).
pub fn invoked_as_helper(argv0: Option<&OsString>) -> bool {
    argv0
        .map(std::path::Path::new)
        .and_then(|p| p.file_name())
        .is_some_and(|name| name == HELPER_NAME)
}

/// Entry point as `docker-credential-berth <operation>`. Errors also go to standard
/// output, because that is what docker shows the person.
pub fn run_as_helper(args: &[OsString]) -> ExitCode {
    let op = args.get(1).and_then(|a| a.to_str());
    let Some(op) = op.and_then(Operation::parse) else {
        let message = format!(
            "usage: {HELPER_NAME} <get|store|erase|list|version>; got {:?}",
            op.unwrap_or("nothing")
        );
        println!("{message}");
        eprintln!("berth: {message}");
        return ExitCode::FAILURE;
    };
    run_helper(op).unwrap_or_else(|err| {
        println!("{err}");
        eprintln!("berth: {err}");
        ExitCode::FAILURE
    })
}

fn run_helper(op: Operation) -> Result<ExitCode> {
    let paths = CredentialPaths::from_env()?;
    let outcome = helper::credential_helper(
        op,
        std::io::stdin().lock(),
        std::io::stdout().lock(),
        &paths.berth,
    )?;
    Ok(match outcome {
        Outcome::Done => ExitCode::SUCCESS,
        Outcome::NotFound => ExitCode::FAILURE,
    })
}

fn run_async(command: ClientCommand) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ClientError::Runtime)?;
    runtime.block_on(dispatch(command))
}

impl ClientCommand {
    /// The common options, for the commands that have them.
    fn common(&self) -> Option<&CommonOpts> {
        match self {
            ClientCommand::Login(args) => Some(&args.common),
            ClientCommand::Logout(args) => Some(&args.common),
            ClientCommand::GetLoginPassword(args) => Some(&args.common),
            ClientCommand::CredentialHelper(_) => None,
            ClientCommand::Sp(group) | ClientCommand::User(group) => Some(&group.common),
            ClientCommand::Token(group) => Some(&group.common),
            ClientCommand::Role(group) => Some(&group.common),
            ClientCommand::Federation(group) => Some(&group.common),
            ClientCommand::Repository(group) => Some(&group.common),
            ClientCommand::Registry(group) => Some(&group.common),
            ClientCommand::SigningKey(group) => Some(&group.common),
            ClientCommand::Audit(args) => Some(&args.common),
            ClientCommand::Whoami(args) => Some(&args.common),
            ClientCommand::Import(args) => Some(&args.common),
        }
    }
}

async fn dispatch(command: ClientCommand) -> Result<()> {
    // A bad expression is refused before any request, so nothing changes for nothing.
    if let Some(expression) = command.common().and_then(|c| c.query.as_deref()) {
        output::install_query(output::Query::parse(expression)?);
    }
    let paths = CredentialPaths::from_env()?;
    match command {
        ClientCommand::Login(args) => {
            let input = login::LoginInput {
                url: args.url,
                username: args.username,
                password_flag: args.password,
                password_stdin: args.password_stdin,
                password_env: login::env_var("BERTH_PASSWORD"),
            };
            login::login(input, args.common.registry.as_deref(), &paths).await
        }
        ClientCommand::Logout(args) => {
            login::logout(args.url.as_deref(), args.common.registry.as_deref(), &paths)
        }
        ClientCommand::GetLoginPassword(args) => {
            login::get_login_password(args.common.registry.as_deref(), args.expires_in, &paths)
                .await
        }
        ClientCommand::CredentialHelper(_) => unreachable!("handled before the runtime starts"),
        ClientCommand::Sp(group) => {
            let session = manage::Session::open(&group.common, &paths).await?;
            manage::principal(&session, manage::Kind::ServicePrincipal, group.action).await
        }
        ClientCommand::User(group) => {
            let session = manage::Session::open(&group.common, &paths).await?;
            manage::principal(&session, manage::Kind::User, group.action).await
        }
        ClientCommand::Token(group) => {
            let session = manage::Session::open(&group.common, &paths).await?;
            manage::token(&session, group.action).await
        }
        ClientCommand::Role(group) => {
            let session = manage::Session::open(&group.common, &paths).await?;
            manage::role(&session, group.action).await
        }
        ClientCommand::Federation(group) => {
            let session = manage::Session::open(&group.common, &paths).await?;
            manage::federation(&session, group.action).await
        }
        ClientCommand::Repository(group) => {
            let session = manage::Session::open(&group.common, &paths).await?;
            repository::repository(&session, group.action).await
        }
        ClientCommand::Registry(group) => {
            let session = manage::Session::open(&group.common, &paths).await?;
            manage::registry(&session, group.action).await
        }
        ClientCommand::SigningKey(group) => {
            let session = manage::Session::open(&group.common, &paths).await?;
            manage::signing_key(&session, group.action).await
        }
        ClientCommand::Audit(args) => {
            let session = manage::Session::open(&args.common, &paths).await?;
            manage::audit(&session, args).await
        }
        ClientCommand::Whoami(args) => {
            let session = manage::Session::open(&args.common, &paths).await?;
            manage::whoami(&session).await
        }
        ClientCommand::Import(args) => import::import(args, &paths).await,
    }
}
