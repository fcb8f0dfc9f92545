//! Settings for `berth serve`, gathered from four layers: built-in defaults, the config
//! file, `BERTH_*` environment variables, and command-line flags, each overriding the
//! one before.
//!
//! Every setting has a flag and an environment variable; the config file uses the same
//! names in snake case (`data_dir = "/var/lib/berth"`). Unknown keys in the file are an
//! error, so a typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use berth_remote::{Destinations, IpRanges};
use clap::{Args, ValueEnum};
use serde::Deserialize;

/// Log line format.
#[derive(Clone, Copy, Debug, Default, Deserialize, ValueEnum, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Flags of `berth serve`; each falls back to its environment variable.
#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// TOML file with any of the settings below.
    #[arg(long, env = "BERTH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where blobs and the metadata database live [default: ./berth-data].
    #[arg(long, env = "BERTH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:5000].
    #[arg(long, env = "BERTH_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain; with --tls-key, serve HTTPS.
    #[arg(long, env = "BERTH_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "BERTH_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Seconds an upload may sit idle before it is purged [default: 86400].
    #[arg(long, env = "BERTH_UPLOAD_TTL")]
    pub upload_ttl: Option<u64>,
    /// Seconds between sweeps for idle uploads [default: 600].
    #[arg(long, env = "BERTH_UPLOAD_PURGE_INTERVAL")]
    pub upload_purge_interval: Option<u64>,
    /// Seconds in-flight requests get to finish after a shutdown signal [default: 30].
    #[arg(long, env = "BERTH_SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<u64>,
    /// Log filter, e.g. `info` or `berth_api=debug,info` [default: info].
    #[arg(long, env = "BERTH_LOG")]
    pub log: Option<String>,
    /// Log format [default: text].
    #[arg(long, env = "BERTH_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Access control: `token` requires an identity for everything not public; `none`
    /// leaves the registry open to anyone who reaches it [default: token].
    #[arg(long, env = "BERTH_AUTH", value_enum)]
    pub auth: Option<AuthMode>,
    /// The service name tokens are bound to, sent in the token challenge [default: berth].
    #[arg(long, env = "BERTH_SERVICE")]
    pub service: Option<String>,
    /// The URL clients reach the registry at, when it differs from the Host they send
    /// (behind a proxy); the token realm is built from it.
    #[arg(long, env = "BERTH_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Lifetime of access tokens, in seconds [default: 300].
    #[arg(long, env = "BERTH_TOKEN_TTL")]
    pub token_ttl: Option<u64>,
    /// The longest lifetime of a login token, in seconds [default: 86400].
    #[arg(long, env = "BERTH_LOGIN_TTL_MAX")]
    pub login_ttl_max: Option<u64>,
    /// Days the audit log keeps its records; 0 keeps them forever [default: 90].
    #[arg(long, env = "BERTH_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: Option<u64>,
    /// Proxies (addresses or CIDR ranges, comma-separated) whose `X-Forwarded-For` names
    /// the client, for login throttling and the audit log [default: none].
    #[arg(long, env = "BERTH_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,
    /// Non-public addresses (addresses or CIDR ranges, comma-separated) imports may fetch
    /// from, such as an internal registry's network; public addresses are always allowed
    /// [default: none].
    #[arg(long, env = "BERTH_IMPORT_ALLOWED_NETWORKS", value_delimiter = ',')]
    pub import_allowed_networks: Option<Vec<String>>,
}

/// Whether requests need an identity.
#[derive(Clone, Copy, Debug, Default, Deserialize, ValueEnum, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    #[default]
    Token,
    None,
}

/// The config file's shape: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    upload_ttl: Option<u64>,
    upload_purge_interval: Option<u64>,
    shutdown_grace: Option<u64>,
    log: Option<String>,
    log_format: Option<LogFormat>,
    auth: Option<AuthMode>,
    service: Option<String>,
    public_url: Option<String>,
    token_ttl: Option<u64>,
    login_ttl_max: Option<u64>,
    audit_retention_days: Option<u64>,
    trusted_proxies: Option<Vec<String>>,
    import_allowed_networks: Option<Vec<String>>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub tls: Option<TlsFiles>,
    pub upload_ttl: Duration,
    pub upload_purge_interval: Duration,
    pub shutdown_grace: Duration,
    pub log: String,
    pub log_format: LogFormat,
    pub auth: AuthMode,
    pub service: String,
    pub public_url: Option<String>,
    pub token_ttl: Duration,
    pub login_ttl_max: Duration,
    /// `None`: the audit log is never pruned.
    pub audit_retention: Option<Duration>,
    pub trusted_proxies: IpRanges,
    pub import_destinations: Destinations,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Config {
    /// Resolves flags and environment over the config file over the defaults.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let tls = match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => anyhow::bail!(
                "TLS needs both a certificate and a key: set --tls-cert and --tls-key \
                 (or tls_cert and tls_key in the config file)"
            ),
        };
        let seconds = |flag: Option<u64>, file: Option<u64>, default: u64| {
            Duration::from_secs(flag.or(file).unwrap_or(default))
        };
        Ok(Config {
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("berth-data")),
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5000))),
            tls,
            upload_ttl: seconds(args.upload_ttl, file.upload_ttl, 86_400),
            upload_purge_interval: seconds(
                args.upload_purge_interval,
                file.upload_purge_interval,
                600,
            )
            .max(Duration::from_secs(1)),
            shutdown_grace: seconds(args.shutdown_grace, file.shutdown_grace, 30),
            log: args.log.or(file.log).unwrap_or_else(|| "info".to_string()),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            auth: args.auth.or(file.auth).unwrap_or_default(),
            service: args
                .service
                .or(file.service)
                .unwrap_or_else(|| "berth".to_string()),
            public_url: args.public_url.or(file.public_url),
            token_ttl: seconds(args.token_ttl, file.token_ttl, 300).max(Duration::from_secs(10)),
            login_ttl_max: seconds(args.login_ttl_max, file.login_ttl_max, 86_400)
                .max(Duration::from_secs(60)),
            trusted_proxies: IpRanges::parse(
                &args
                    .trusted_proxies
                    .or(file.trusted_proxies)
                    .unwrap_or_default(),
                "trusted proxy range",
            )
            .map_err(anyhow::Error::msg)?,
            import_destinations: Destinations {
                allowed: IpRanges::parse(
                    &args
                        .import_allowed_networks
                        .or(file.import_allowed_networks)
                        .unwrap_or_default(),
                    "import network",
                )
                .map_err(anyhow::Error::msg)?,
            },
            audit_retention: match args
                .audit_retention_days
                .or(file.audit_retention_days)
                .unwrap_or(90)
            {
                0 => None,
                days => Some(Duration::from_secs(days.saturating_mul(86_400))),
            },
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is invalid", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_apply_without_flags_or_file() {
        let config = Config::resolve(ServeArgs::default()).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:5000");
        assert_eq!(config.data_dir, PathBuf::from("berth-data"));
        assert_eq!(config.upload_ttl, Duration::from_secs(86_400));
        assert!(config.tls.is_none());
        assert_eq!(config.auth, AuthMode::Token);
        assert_eq!(config.service, "berth");
    }

    #[test]
    fn auth_can_be_turned_off_in_the_file() {
        let f = file("auth = \"none\"\nservice = \"registry.example\"\n");
        let args = ServeArgs {
            config: Some(f.path().to_path_buf()),
            ..ServeArgs::default()
        };
        let config = Config::resolve(args).unwrap();
        assert_eq!(config.auth, AuthMode::None);
        assert_eq!(config.service, "registry.example");
    }

    #[test]
    fn trusted_proxies_come_from_flags_or_the_file() {
        let f = file("trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n");
        let args = ServeArgs {
            config: Some(f.path().to_path_buf()),
            ..ServeArgs::default()
        };
        let config = Config::resolve(args).unwrap();
        assert!(config.trusted_proxies.contains("10.2.3.4".parse().unwrap()));
        assert!(!config.trusted_proxies.contains("11.2.3.4".parse().unwrap()));

        let args = ServeArgs {
            trusted_proxies: Some(vec!["10.0.0.0/99".into()]),
            ..ServeArgs::default()
        };
        let err = format!("{:#}", Config::resolve(args).unwrap_err());
        assert!(err.contains("10.0.0.0/99"), "{err}");
    }

    #[test]
    fn imports_reach_public_addresses_and_the_networks_allowed() {
        let config = Config::resolve(ServeArgs::default()).unwrap();
        let destinations = &config.import_destinations;
        assert!(destinations.check("10.1.2.3".parse().unwrap()).is_err());
        assert!(destinations.check("8.8.8.8".parse().unwrap()).is_ok());

        let f = file("import_allowed_networks = [\"10.1.0.0/16\"]\n");
        let args = ServeArgs {
            config: Some(f.path().to_path_buf()),
            ..ServeArgs::default()
        };
        let config = Config::resolve(args).unwrap();
        let destinations = &config.import_destinations;
        assert!(destinations.check("10.1.2.3".parse().unwrap()).is_ok());
        assert!(destinations.check("10.2.0.1".parse().unwrap()).is_err());

        let args = ServeArgs {
            import_allowed_networks: Some(vec!["intranet".into()]),
            ..ServeArgs::default()
        };
        let err = format!("{:#}", Config::resolve(args).unwrap_err());
        assert!(err.contains("import network \"intranet\""), "{err}");
    }

    #[test]
    fn flags_override_the_file() {
        let f = file("listen = \"127.0.0.1:6000\"\ndata_dir = \"/srv\"\nupload_ttl = 5\n");
        let args = ServeArgs {
            config: Some(f.path().to_path_buf()),
            listen: Some("127.0.0.1:7000".parse().unwrap()),
            ..ServeArgs::default()
        };
        let config = Config::resolve(args).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(config.data_dir, PathBuf::from("/srv"));
        assert_eq!(config.upload_ttl, Duration::from_secs(5));
    }

    #[test]
    fn unknown_keys_and_half_tls_are_errors() {
        let f = file("listn = \"127.0.0.1:6000\"\n");
        let args = ServeArgs {
            config: Some(f.path().to_path_buf()),
            ..ServeArgs::default()
        };
        let err = format!("{:#}", Config::resolve(args).unwrap_err());
        assert!(err.contains("listn"), "{err}");

        let args = ServeArgs {
            tls_cert: Some(PathBuf::from("cert.pem")),
            ..ServeArgs::default()
        };
        assert!(Config::resolve(args).is_err());
    }
}
