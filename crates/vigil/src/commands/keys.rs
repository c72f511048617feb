//! `vigil keys create|list|revoke`: the API keys of a data directory, managed on its host.
//!
//! Whoever can write the data directory holds everything in it anyway; these commands need no
//! key of their own, and every change goes into the audit trail as `vigil keys`. In cluster mode
//! (`[cluster]` in the configuration) a change goes to the cluster, so the key works on every
//! node.

use std::io::Write;

use anyhow::bail;
use ecs::date::Timestamp;
use server::Config;
use store::{Access, AuditEntry, Role};

use crate::cli::{DataArgs, KeysCommand, RoleArg};
use crate::exit::Exit;
use crate::report;

/// Runs `vigil keys ...`.
pub fn run(command: KeysCommand) -> anyhow::Result<Exit> {
    match command {
        KeysCommand::Create(args) => {
            let (store, cluster) = open(&args.data)?;
            let role = match args.role {
                RoleArg::Ingest => Role::Ingest,
                RoleArg::Analyst => Role::Analyst,
                RoleArg::Admin => Role::Admin,
            };
            if args.name.trim().is_empty() {
                bail!("--name: say what the key is for");
            }
            let (key, digest, token) =
                server::generate_key(&args.name, role, Timestamp::now()).map_err(anyhow::Error::msg)?;
            let audit = entry("key.create", &key.id, format!("{} {}", role.as_str(), key.name));
            match cluster {
                Some(settings) => in_cluster(settings, async |c| cluster::add_key(c, &key, &digest, &audit).await)?,
                None => store.add_key(&key, &digest, &audit)?,
            }
            writeln!(std::io::stdout(), "{token}")?;
            report::note(&format!("key {} ({}, {}) made; it is shown this once", key.id, key.name, role.as_str()));
            Ok(Exit::Success)
        }
        KeysCommand::List(data) => {
            let (store, _) = open(&data)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{:<12}  {:<8}  {:<24}  {:<24}  name", "id", "role", "created", "revoked")?;
            for key in store.keys()? {
                let revoked = key.revoked.map_or_else(|| "-".to_owned(), |t| t.to_string());
                writeln!(
                    out,
                    "{:<12}  {:<8}  {:<24}  {:<24}  {}",
                    key.id,
                    key.role.as_str(),
                    key.created.to_string(),
                    revoked,
                    key.name
                )?;
            }
            Ok(Exit::Success)
        }
        KeysCommand::Revoke(args) => {
            let (store, cluster) = open(&args.data)?;
            let (at, audit) = (Timestamp::now(), entry("key.revoke", &args.id, String::new()));
            let revoked = match cluster {
                // The node's store says whether the key is live; the log revokes it everywhere.
                Some(settings) => {
                    let live = store.keys()?.iter().any(|k| k.id == args.id && k.revoked.is_none());
                    if live {
                        in_cluster(settings, async |c| cluster::revoke_key(c, &args.id, at, &audit).await)?;
                    }
                    live
                }
                None => store.revoke_key(&args.id, at, &audit)?,
            };
            if !revoked {
                report::note(&format!("no live key `{}` (vigil keys list shows them)", args.id));
                return Ok(Exit::No);
            }
            writeln!(std::io::stdout(), "revoked: {}", args.id)?;
            Ok(Exit::Success)
        }
    }
}

/// The store of an existing data directory, and the cluster it belongs to in cluster mode: keys
/// are made for a server's data, and a mistyped or missing `--data-dir` must not quietly make a
/// new, empty one.
fn open(data: &DataArgs) -> anyhow::Result<(store::Sqlite, Option<cluster::Settings>)> {
    let mut config = Config::load(data.config.as_deref(), |key| std::env::var(key).ok())?;
    if let Some(dir) = &data.data_dir {
        config.data_dir = dir.clone();
    }
    let database = config.data_dir.join("vigil.db");
    if !database.is_file() {
        bail!(
            "{} is not a vigil data directory (no vigil.db): give the server's with --data-dir DIR (or --config FILE), \
             or start `vigil serve` once to make it",
            config.data_dir.display()
        );
    }
    Ok((store::Sqlite::open(&config.data_dir)?, config.cluster))
}

/// In cluster mode a key change goes to the cluster's state log, which every node (this one's
/// service too) applies to its store: the command never writes the store itself.
fn in_cluster(
    settings: cluster::Settings,
    change: impl AsyncFnOnce(&cluster::Cluster) -> Result<(), cluster::ClusterError>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let cluster = cluster::Cluster::connect(settings).await?;
        change(&cluster).await?;
        report::note(&"sent to the cluster: every node applies it as it reads the cluster's state log");
        anyhow::Ok(())
    })
}

/// The audit entry of a change made with `vigil keys`.
fn entry(action: &str, target: &str, detail: String) -> AuditEntry {
    AuditEntry {
        at: Timestamp::now(),
        actor: "vigil keys".into(),
        action: action.into(),
        target: target.into(),
        detail: (!detail.is_empty()).then_some(detail),
    }
}
