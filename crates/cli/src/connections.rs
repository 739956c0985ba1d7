//! The connections: what DigiPost's "connecties" tab does for an entity's e-Box.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::Utc;
use clap::{Args, Subcommand};
use delivery::EntityId;
use delivery::admin::{Added, AdminError, KeySource, NewConnection};
use delivery::onboarding::Onboarding;
use delivery::ports::*;
use serde_json::json;

use crate::context::Context;
use crate::key_material::key_material;

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

/// Tests the connection and records the test in its onboarding (the library's test).
async fn test_and_record(ctx: &Context, connection: &mut Connection) -> anyhow::Result<ExitCode> {
    let ebox = ctx.ebox().map_err(|e| format!("{e:#}"));
    let verdict = ctx
        .admin()
        .test(ebox.as_ref().map_err(Clone::clone), connection, Utc::now())
        .await;
    println!("{}", verdict.text);
    Ok(if verdict.works {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
    match ctx.admin().remove(&id).await {
        Ok(Some(secret_id)) => {
            println!("removed the connection of {id}; secret {secret_id} is scheduled for deletion (7 days to recover)")
        }
        Ok(None) => println!("removed the connection of {id}; no secret of its own (a shared one stays)"),
        Err(AdminError::NotFound(_)) => bail!("entity {id}: no connection to remove"),
        Err(e) => return Err(e.into()),
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
    let reader: &dyn ConnectionReader = ctx.connections.as_ref();
    Ok(delivery::ports::all_connections(reader).await?)
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
    match ctx.admin().set_enabled(&id, enabled, Utc::now()).await {
        Err(AdminError::NotFound(_)) => return Err(no_connection(&id)),
        other => other?,
    }
    println!(
        "{} the connection of {id}",
        if enabled { "enabled" } else { "disabled" }
    );
    Ok(ExitCode::SUCCESS)
}

/// Adds the connection with the library's checks: the key material from files or a
/// PKCS#12 file (converted to PEM here), or the shared certificate secret.
async fn add_connection(ctx: &Context, add: Add) -> anyhow::Result<ExitCode> {
    let id = entity(&add.entity)?;
    let key = match &add.shared_certificate {
        Some(shared) => KeySource::SharedCertificate(shared.clone()),
        None => {
            let (key_pem, certificate_pem) =
                key_material(&add).with_context(|| format!("entity {id}: step key material"))?;
            KeySource::Pem {
                private_key_pem: key_pem.into(),
                certificate_pem,
            }
        }
    };
    let new = NewConnection {
        entity: id.clone(),
        name: add.name.clone(),
        client_id: add.client_id.clone(),
        key,
        prefix: add.prefix.clone(),
        scopes: (add.scopes.as_deref()).map(|s| s.split_whitespace().map(str::to_owned).collect()),
    };
    let Added {
        mut connection,
        certificate,
    } = ctx.admin().add(new, Utc::now()).await?;
    if let (Some(certificate), CredentialsRef::Secret { secret_id }) = (&certificate, &connection.credentials) {
        println!(
            "stored the key material in secret {secret_id} (certificate {}, valid until {})",
            certificate.subject,
            certificate.not_after.date_naive()
        );
    }
    println!(
        "added the connection of {id} ({}), delivering into {}",
        add.name, connection.verdeelbak_prefix
    );
    test_and_record(ctx, &mut connection).await
}
