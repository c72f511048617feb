//! `vigil serve`: the long-running service on its embedded store.

use std::sync::Arc;

use anyhow::Context;
use ecs::date::Timestamp;
use server::{AppState, Config};
use store::{Access, AuditEntry, Role};

use crate::cli::ServeArgs;
use crate::exit::Exit;
use crate::report;

/// Runs `vigil serve` until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<Exit> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let mut config = Config::load(args.config.as_deref(), |key| std::env::var(key).ok())?;
    if let Some(listen) = &args.listen {
        config.listen = listen.parse().with_context(|| format!("--listen {listen}: not an address and port"))?;
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    config.rules.extend(args.rules);
    config.watch.extend(args.watch);
    if args.no_builtin_rules {
        config.builtin_rules = false;
    }
    let store = store::Sqlite::open(&config.data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let address = listener.local_addr()?;
        let store = Arc::new(store);
        let settings = config.cluster.clone();
        let position = config.data_dir.join("cluster-state");
        let mut state = AppState::new(store.clone(), config);
        if let Some(settings) = settings {
            // Cluster mode: events go to the cluster's event log, execution commits and triage
            // to its state log; both come back into this node's store, in the logs' order.
            let urls = settings.urls.join(", ");
            let lease = settings.lease;
            let cluster = cluster::Cluster::connect(settings).await?;
            let leases = cluster::Leases::open(&cluster, lease).await?;
            state.leases = Some(leases.clone());
            state.cluster = Some(cluster.clone());
            cluster.check(&store).await?;
            tokio::spawn(cluster.replicate(store.clone()).run());
            let log = cluster::StateLog::open(cluster.clone(), store.clone(), position).await?;
            tokio::spawn(log.clone().apply());
            let runtime = tokio::runtime::Handle::current();
            let events = cluster::ClusterLog::new(cluster, runtime.clone());
            // What the other nodes did while this one was away (the keys they made, first).
            log.caught_up().await?;
            let shared = Arc::new(cluster::ClusterStore::new(events, log, leases, store, runtime));
            state.store = shared.clone();
            state.access = shared.clone();
            state.checkpoints = shared.clone();
            state.tuning = shared.clone();
            state = state.with_event_log(shared);
            tracing::info!(nats = %urls, "cluster mode: events, executions and triage go through the NATS JetStream cluster");
        }
        let access = state.access.clone();
        tokio::task::spawn_blocking(move || first_key(access.as_ref())).await??;
        let pack = state.rules();
        tracing::info!(
            address = %format!("{}://{address}", if state.config.tls.is_some() { "https" } else { "http" }),
            data_dir = %state.config.data_dir.display(),
            rules = pack.rules.len(),
            not_loaded = pack.problems.len(),
            "vigil is serving"
        );
        server::serve(listener, state, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(Exit::Success)
    })
}

/// A fresh install (a fresh cluster, in cluster mode) has no key and no default password: it
/// makes an admin key and shows it once.
fn first_key(access: &dyn Access) -> anyhow::Result<()> {
    if access.keys()?.is_empty() {
        let (key, digest, token) =
            server::generate_key("admin", Role::Admin, Timestamp::now()).map_err(anyhow::Error::msg)?;
        let entry = AuditEntry {
            at: Timestamp::now(),
            actor: "vigil serve".into(),
            action: "key.create".into(),
            target: key.id.clone(),
            detail: Some("admin: the first key of a fresh install".into()),
        };
        access.add_key(&key, &digest, &entry)?;
        report::first_admin_key(&token);
    }
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing requests and the execution under way");
}
