//! The connections: what DigiPost's "connecties" tab does for an entity's e-Box.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::Utc;
use clap::{Args, Subcommand};
use delivery::EntityId;
use delivery::fetch::credentials;
use delivery::onboarding::{Onboarding, Step};
use delivery::ports::*;
use delivery::probe::Verdict;
use delivery::secret::ConnectionSecret;
use serde_json::json;

use crate::context::Context;
use crate::key_material::{key_material, not_expired, usable_key_material};

#[derive(Subcommand)]
pub enum Command {
    /// Add a connection: store the key material, write the connection, then test it.
    Add(Box<Add>),
    /// Every connection.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One connection, with its last run.
    Show {
        /// The entity's enterprise number (KBO), e.g. 0403.170.701.
        #[arg(long)]
        entity: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Deliver the entity's mail again from the next run on.
    Enable {
        /// The entity's enterprise number (KBO), e.g. 0403.170.701.
        #[arg(long)]
        entity: String,
    },
    /// Stop delivering the entity's mail (nothing is removed); `enable` resumes.
    Disable {
        /// The entity's enterprise number (KBO), e.g. 0403.170.701.
        #[arg(long)]
        entity: String,
    },
    /// Remove the connection; its own secret is scheduled for deletion (7 days to recover).
    Remove {
        /// The entity's enterprise number (KBO), e.g. 0403.170.701.
        #[arg(long)]
        entity: String,
    },
    /// Get a token and read the e-Box summary: does the connection work? While it is
    /// onboarding, a test that gets through connects it.
    Test {
        /// The entity's enterprise number (KBO), e.g. 0403.170.701.
        #[arg(long)]
        entity: String,
    },
    /// Start an onboarding: the entity asked for a connection; `add` completes it with the ClientID.
    Request {
        /// The entity's enterprise number (KBO), e.g. 0403.170.701.
        #[arg(long)]
        entity: String,
        /// The entity's name, as the verdeelbak and the reports show it.
        #[arg(long)]
        name: String,
        /// The reference of the entity's Facilipunt request.
        #[arg(long)]
        facilipunt: Option<String>,
    },
    /// Record an onboarding step: certificate_handed_over or waiting_for_client_id.
    Step {
        /// The entity's enterprise number (KBO), e.g. 0403.170.701.
        #[arg(long)]
        entity: String,
        /// The step reached: certificate_handed_over or waiting_for_client_id.
        #[arg(long)]
        step: delivery::onboarding::Step,
        /// Which certificate was handed over (its SHA-256 thumbprint or its secret).
        #[arg(long)]
        certificate: Option<String>,
    },
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("material").required(true).args(["key", "p12", "shared_certificate"])))]
pub struct Add {
    /// The entity's enterprise number (KBO), e.g. 0403.170.701.
    #[arg(long)]
    entity: String,
    /// The entity's name, as the verdeelbak and the reports show it.
    #[arg(long)]
    name: String,
    /// The ClientID of the entity's "DocConsumer e-Box Enterprise" REST account.
    #[arg(long)]
    client_id: String,
    /// DigiPost's private key (PEM, PKCS#8 or PKCS#1), with --cert.
    #[arg(long, requires = "cert")]
    pub(crate) key: Option<PathBuf>,
    /// The certificate (PEM) registered with the REST account.
    #[arg(long, requires = "key")]
    pub(crate) cert: Option<PathBuf>,
    /// A PKCS#12 file holding key and certificate, converted to PEM on import.
    #[arg(long, requires = "password_file")]
    pub(crate) p12: Option<PathBuf>,
    /// A file holding the PKCS#12 password.
    #[arg(long)]
    pub(crate) password_file: Option<PathBuf>,
    /// Use DigiPost's shared certificate secret (its id): no secret of this connection's own.
    #[arg(long)]
    shared_certificate: Option<String>,
    /// Verdeelbak prefix (default verdeelbak/<entity>/).
    #[arg(long)]
    prefix: Option<String>,
    /// Scopes this connection's token requests name (space separated), when its REST
    /// account was granted other scopes than EBOX_SCOPES names. "" names none.
    #[arg(long)]
    scopes: Option<String>,
}

fn entity(raw: &str) -> anyhow::Result<EntityId> {
    EntityId::parse_lenient(raw).with_context(|| format!("entity {raw:?} is not a valid enterprise number"))
}

pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    let ctx = Context::from_env().await?;
    match command {
        Command::Add(add) => add_connection(&ctx, *add).await,
        Command::List { json } => list(&ctx, json).await,
        Command::Show { entity: raw, json } => show(&ctx, &raw, json).await,
        Command::Enable { entity: raw } => set_enabled(&ctx, &raw, true).await,
        Command::Disable { entity: raw } => set_enabled(&ctx, &raw, false).await,
        Command::Remove { entity: raw } => remove(&ctx, &raw).await,
        Command::Test { entity: raw } => {
            let id = entity(&raw)?;
            let mut connection = existing(&ctx, &id).await?;
            test_and_record(&ctx, &mut connection).await
        }
        Command::Request {
            entity: raw,
            name,
            facilipunt,
        } => {
            let id = entity(&raw)?;
            delivery::onboard::request(ctx.connections.as_ref(), id.clone(), &name, facilipunt, Utc::now()).await?;
            println!(
                "entity {id}: onboarding requested; next: {}",
                Onboarding::default().next()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Step {
            entity: raw,
            step,
            certificate,
        } => {
            let id = entity(&raw)?;
            let c = delivery::onboard::reach(ctx.connections.as_ref(), &id, step, certificate, Utc::now()).await?;
            let onboarding = c.onboarding.unwrap_or_default();
            println!("entity {id}: onboarding at step {step}; next: {}", onboarding.next());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Tests the connection and records the test in its onboarding.
async fn test_and_record(ctx: &Context, connection: &mut Connection) -> anyhow::Result<ExitCode> {
    let verdict = test(ctx, connection).await;
    delivery::onboard::record_test(ctx.connections.as_ref(), connection, &verdict, Utc::now())
        .await
        .with_context(|| format!("entity {}: step onboarding: recording the test", connection.entity_id))?;
    Ok(report_test(&connection.entity_id, verdict))
}

async fn list(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let all = all_connections(ctx).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        let mut table = crate::table(["entity", "enabled", "name", "onboarding", "credentials"]);
        for c in &all {
            table.add_row([
                c.entity_id.to_string(),
                c.enabled.to_string(),
                c.name.clone(),
                c.onboarding_step().to_string(),
                describe(&c.credentials),
            ]);
        }
        println!("{table}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(ctx: &Context, raw: &str, json: bool) -> anyhow::Result<ExitCode> {
    let id = entity(raw)?;
    let connection = existing(ctx, &id).await?;
    let last = ctx.state.get_last(&id).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"connection": connection, "last_run": last}))?
        );
    } else {
        println!("entity       {}", connection.entity_id);
        println!("name         {}", connection.name);
        println!("enabled      {}", connection.enabled);
        println!("credentials  {}", describe(&connection.credentials));
        println!("verdeelbak   {}", connection.verdeelbak_prefix);
        println!("onboarding   {}", connection.onboarding_step());
        if let Some(o) = connection.onboarding.as_ref().filter(|_| !connection.is_connected()) {
            println!("next         {}", o.next());
        }
        match last {
            Some(r) => println!("last run     {}", r.summary()),
            None => println!("last run     never"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn remove(ctx: &Context, raw: &str) -> anyhow::Result<ExitCode> {
    let id = entity(raw)?;
    let Some(connection) = ctx.connections.get(&id).await? else {
        bail!("entity {id}: no connection to remove");
    };
    ctx.connections.remove(&id).await?;
    if let CredentialsRef::Secret { secret_id } = &connection.credentials {
        ctx.secrets.delete(secret_id).await?;
        println!("removed the connection of {id}; secret {secret_id} is scheduled for deletion (7 days to recover)");
    } else {
        println!("removed the connection of {id}; the shared certificate secret stays");
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(credentials: &CredentialsRef) -> String {
    match credentials {
        CredentialsRef::Secret { secret_id } => format!("secret {secret_id}"),
        CredentialsRef::SharedCertificate {
            client_id,
            certificate_secret_id,
        } => format!("client {client_id}, shared certificate {certificate_secret_id}"),
        CredentialsRef::AwaitingClientId => "none yet (waiting for the ClientID)".into(),
    }
}

pub async fn all_connections(ctx: &Context) -> anyhow::Result<Vec<Connection>> {
    let mut all = Vec::new();
    let mut from = None;
    loop {
        let page = ctx.connections.page(from, 500).await?;
        all.extend(page.items);
        match page.next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    all.sort_by(|a, b| a.entity_id.cmp(&b.entity_id));
    Ok(all)
}

/// The entity's connection, or an error that says how to make one.
async fn existing(ctx: &Context, id: &EntityId) -> anyhow::Result<Connection> {
    ctx.connections.get(id).await?.ok_or_else(|| no_connection(id))
}

fn no_connection(id: &EntityId) -> anyhow::Error {
    anyhow::anyhow!("entity {id}: no connection; add one with `connections add`")
}

async fn set_enabled(ctx: &Context, raw: &str, enabled: bool) -> anyhow::Result<ExitCode> {
    let id = entity(raw)?;
    if !ctx.connections.set_enabled(&id, enabled, Utc::now()).await? {
        return Err(no_connection(&id));
    }
    println!(
        "{} the connection of {id}",
        if enabled { "enabled" } else { "disabled" }
    );
    Ok(ExitCode::SUCCESS)
}

async fn add_connection(ctx: &Context, add: Add) -> anyhow::Result<ExitCode> {
    let id = entity(&add.entity)?;
    if let Some(prefix) = &add.prefix {
        // Before anything is stored: every key of the entity starts with it.
        delivery::verdeelbak::keys::check_prefix(prefix, &id)
            .map_err(|e| anyhow::anyhow!("entity {id}: step input: {e}"))?;
    }
    // An onboarding waiting for its ClientID is completed; any other connection stays.
    let awaiting = match ctx.connections.get(&id).await? {
        Some(c) if c.credentials == CredentialsRef::AwaitingClientId => Some(c),
        Some(_) => bail!(
            "entity {id} already has a connection: `connections show --entity {id}`; remove it first to replace it"
        ),
        None => None,
    };
    let completes = awaiting.is_some();
    let credentials = match &add.shared_certificate {
        Some(shared) => shared_credentials(ctx, &id, &add, shared).await?,
        None => own_secret(ctx, &id, &add).await?,
    };
    let mut connection = Connection::new(id.clone(), add.name.clone(), credentials, Utc::now());
    if let Some(prefix) = &add.prefix {
        connection.verdeelbak_prefix = prefix.clone();
    }
    connection.scopes = add
        .scopes
        .as_deref()
        .map(|s| s.split_whitespace().map(str::to_owned).collect());
    let now = Utc::now();
    if let Some(awaiting) = &awaiting {
        connection.created_at = awaiting.created_at;
    }
    let mut onboarding = awaiting.and_then(|c| c.onboarding).unwrap_or_default();
    onboarding.reach(Step::ClientIdReceived, now)?;
    connection.onboarding = Some(onboarding);
    if completes {
        ctx.connections.put(&connection).await?;
    } else if ctx.connections.insert(&connection).await? == Insert::AlreadyExists {
        // Nothing half-stored: the secret made for it goes again.
        if let CredentialsRef::Secret { secret_id } = &connection.credentials {
            ctx.secrets.delete(secret_id).await.ok();
        }
        bail!("entity {id} got a connection meanwhile; nothing was changed");
    }
    println!(
        "added the connection of {id} ({}), delivering into {}",
        add.name, connection.verdeelbak_prefix
    );
    test_and_record(ctx, &mut connection).await
}

/// A connection on DigiPost's shared certificate secret, which must hold usable key
/// material before anything is written.
async fn shared_credentials(ctx: &Context, id: &EntityId, add: &Add, shared: &str) -> anyhow::Result<CredentialsRef> {
    // The shared secret must hold usable key material before anything is written.
    let probe = Connection {
        entity_id: id.clone(),
        name: add.name.clone(),
        enabled: true,
        credentials: CredentialsRef::SharedCertificate {
            client_id: add.client_id.clone(),
            certificate_secret_id: shared.to_owned(),
        },
        verdeelbak_prefix: String::new(),
        scopes: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        health: None,
        onboarding: None,
    };
    let shared_key = credentials::resolve(&ctx.secrets, &probe)
        .await
        .with_context(|| format!("entity {id}: step secret: the shared certificate secret {shared} is not usable"))?;
    not_expired(&shared_key.key)
        .with_context(|| format!("entity {id}: step secret: the shared certificate secret {shared}"))?;
    Ok(probe.credentials)
}

/// The connection's own secret with its key material, refused before anything is stored
/// when the key is not the certificate's or the certificate has expired.
async fn own_secret(ctx: &Context, id: &EntityId, add: &Add) -> anyhow::Result<CredentialsRef> {
    let (key_pem, cert_pem) = key_material(add).with_context(|| format!("entity {id}: step key material"))?;
    let key = usable_key_material(&key_pem, &cert_pem)
        .with_context(|| format!("entity {id}: step key material: refused before anything was stored"))?;
    let secret_id = format!("{}connections/{id}", ctx.secrets_prefix);
    let secret = ConnectionSecret::with_key_material(&add.client_id, &key_pem, &cert_pem);
    ctx.secrets
        .put(&secret_id, &secret.encode())
        .await
        .with_context(|| format!("entity {id}: step secret: storing {secret_id}"))?;
    println!(
        "stored the key material in secret {secret_id} (certificate {}, valid until {})",
        key.certificate().subject,
        key.certificate().not_after.date_naive()
    );
    Ok(CredentialsRef::Secret { secret_id })
}

/// Probes the connection with this process's stores and e-Box client.
pub async fn test(ctx: &Context, connection: &Connection) -> Verdict {
    let ebox = ctx.ebox().map_err(|e| format!("{e:#}"));
    delivery::probe::probe(&ctx.secrets, ebox.as_ref().map_err(Clone::clone), connection).await
}

fn report_test(_id: &EntityId, verdict: Verdict) -> ExitCode {
    println!("{}", verdict.text);
    if verdict.works {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
