//! `berth serve`: opens the stores, serves HTTP or HTTPS, sweeps idle uploads, records
//! pull times, and shuts down gracefully.
//!
//! On SIGTERM or Ctrl-C the listener closes at once, in-flight requests get the grace
//! period to finish, and the metadata store is closed last so that its final writes are
//! flushed. Nothing is half-written at any point: blob storage publishes only verified,
//! fsynced files and every metadata change is one transaction.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use berth_api::auth::ClientAddr;
use berth_api::AppConfig;
use berth_auth::audit::AuditLog;
use berth_auth::authority::{AuthSettings, Authority};
use berth_blobs::FsBlobStore;
use berth_meta::MetaStore;
use berth_registry::Registry;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::{AuthMode, Config, TlsFiles};

/// Runs the registry until a shutdown signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let data_dir = config.data_dir.canonicalize()?;
    let blobs = FsBlobStore::open(&data_dir)
        .await
        .with_context(|| format!("cannot open blob storage in {}", data_dir.display()))?;
    let meta = MetaStore::open(&data_dir.join("berth.db"))
        .await
        .with_context(|| {
            format!(
                "cannot open the metadata database in {}",
                data_dir.display()
            )
        })?;
    let registry = Registry::new(meta.clone(), Arc::new(blobs));

    let (audit, audit_writer) = AuditLog::start(meta.clone());
    let auth = match config.auth {
        AuthMode::None => {
            tracing::warn!(
                "AUTHENTICATION IS OFF: anyone who can reach this port can push, pull and \
                 delete anything; use --auth token outside local experiments"
            );
            None
        }
        AuthMode::Token => Some(open_authority(&config, &meta, &data_dir, audit.clone()).await?),
    };

    let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        data_dir = %data_dir.display(),
        tls = tls.is_some(),
        "berth is listening"
    );

    let sweeper = tokio::spawn(sweep_uploads(
        registry.clone(),
        config.upload_ttl,
        config.upload_purge_interval,
    ));
    let audit_pruner = config
        .audit_retention
        .map(|retention| tokio::spawn(prune_audit(meta.clone(), retention)));
    let pull_recorder = tokio::spawn(record_pulls(registry.clone()));
    let app = berth_api::router(AppConfig {
        registry: registry.clone(),
        auth,
        audit,
        public_url: config.public_url.clone(),
        tls: tls.is_some(),
        trusted_proxies: config.trusted_proxies.clone(),
        import_destinations: config.import_destinations.clone(),
    });
    accept_until_shutdown(listener, app, tls, config.shutdown_grace).await;

    sweeper.abort();
    if let Some(pruner) = audit_pruner {
        pruner.abort();
    }
    pull_recorder.abort();
    if let Err(err) = registry.flush_pulls().await {
        tracing::warn!(err = ?err, "recording the last pull times failed");
    }
    // Connections cut off at the end of the grace period may still hold the audit
    // handle; waiting for them could hang the shutdown.
    if tokio::time::timeout(Duration::from_secs(5), audit_writer.finish())
        .await
        .is_err()
    {
        tracing::warn!("audit events still queued at shutdown were not written");
    }
    meta.close().await;
    tracing::info!("berth stopped");
    Ok(())
}

/// Starts the identity service and, on a registry without principals, creates `owner`.
async fn open_authority(
    config: &Config,
    meta: &MetaStore,
    data_dir: &std::path::Path,
    audit: AuditLog,
) -> anyhow::Result<Authority> {
    let settings = AuthSettings {
        service: config.service.clone(),
        access_ttl: config.token_ttl,
        login_ttl_max: config.login_ttl_max,
        ..AuthSettings::default()
    };
    let authority = Authority::open(meta.clone(), settings, audit)
        .await
        .context("cannot load the token signing keys")?;
    let password_file = data_dir.join("owner-password");
    authority
        .bootstrap_owner(&password_file)
        .await
        .context("cannot create the first principal")?;
    Ok(authority)
}

async fn accept_until_shutdown(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Running out of file descriptors must not end the server; back off.
                    tracing::warn!(err = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(TokioIo::new(stream), app, peer, watcher).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => serve_connection(TokioIo::new(stream), app, peer, watcher).await,
                    Err(err) => tracing::debug!(peer = %peer, err = %err, "tls handshake failed"),
                },
            }
        });
    }

    drop(listener);
    tracing::info!(
        grace_seconds = grace.as_secs(),
        "shutting down; finishing requests"
    );
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!("grace period over; closing connections"),
    }
}

async fn serve_connection<S>(
    io: TokioIo<S>,
    app: Router,
    peer: SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Access control counts failed logins per address, so every request learns its peer.
    let app = tower::ServiceExt::map_request(app, move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ClientAddr(peer));
        request
    });
    let service = TowerToHyperService::new(app);
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(60))
        .serve_connection(io, service);
    if let Err(err) = watcher.watch(connection).await {
        tracing::debug!(err = %err, "connection ended with an error");
    }
}

fn tls_acceptor(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    let cert_pem = std::fs::read(&files.cert)
        .with_context(|| format!("cannot read TLS certificate {}", files.cert.display()))?;
    let key_pem = std::fs::read(&files.key)
        .with_context(|| format!("cannot read TLS key {}", files.key.display()))?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", files.cert.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{} holds no certificate",
        files.cert.display()
    );
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .with_context(|| format!("{} is not a PEM private key", files.key.display()))?
        .with_context(|| format!("{} holds no private key", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not form a usable pair")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Drops audit records older than the retention, hourly, so the log cannot grow forever.
async fn prune_audit(meta: MetaStore, retention: Duration) {
    let mut ticker = tokio::time::interval(Duration::from_secs(3600));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let cutoff = berth_auth::clock::now_millis()
            .saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        if let Err(err) = meta.prune_audit(cutoff).await {
            tracing::warn!(err = %err, "pruning the audit log failed");
        }
    }
}

/// How often the pull times noted in memory are written to the metadata store.
const PULL_FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// Writes the noted pull times every few seconds; one transaction per flush, however
/// many pulls it covers.
async fn record_pulls(registry: Registry) {
    let mut ticker = tokio::time::interval(PULL_FLUSH_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(err) = registry.flush_pulls().await {
            tracing::warn!(err = ?err, "recording the last pull times failed");
        }
    }
}

async fn sweep_uploads(registry: Registry, ttl: Duration, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match registry.purge_idle_uploads(ttl).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged idle uploads"),
            Err(err) => tracing::warn!(err = ?err, "purging idle uploads failed"),
        }
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => tracing::info!(signal = "interrupt", "shutdown requested"),
        () = terminate => tracing::info!(signal = "terminate", "shutdown requested"),
    }
}
