//! `digipost-ebox certificate`: DigiPost's certificate renewed across every entity, as a
//! campaign. A new key and its signing request (`new`); the signed certificate staged as
//! the next pair of a secret (`stage`); who is still on the current one (`status`); and,
//! once all have moved, the next pair made the current one (`promote`).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use delivery::fetch::credentials::{self, Pair};
use delivery::ports::{Connection, RunReportStore, SecretStore};
use delivery::secrets_cache::CachedSecrets;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::Value;

use crate::connections::all_connections;
use crate::context::Context;

#[derive(Subcommand)]
pub enum Command {
    /// Make a new private key and a certificate signing request for Team DigiPost to have
    /// signed (the key stays in --out, readable by its owner only).
    New {
        /// The certificate's common name, e.g. "DigiPost e-Box".
        #[arg(long)]
        common_name: String,
        /// An empty or new directory for key.pem and request.csr.
        #[arg(long)]
        out: PathBuf,
    },
    /// Put a signed certificate and its key into a secret as its next pair.
    Stage {
        /// The secret holding the key material (a connection's own or the shared one).
        #[arg(long)]
        secret: String,
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        cert: PathBuf,
    },
    /// Per connection, which pair its last run used; those not yet on the next pair first.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Make a secret's next pair its current one. Refused while a connection using the
    /// secret was last seen on the current pair, unless --force.
    Promote {
        #[arg(long)]
        secret: String,
        #[arg(long)]
        force: bool,
    },
}

pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::New { common_name, out } => new(&common_name, &out),
        Command::Stage { secret, key, cert } => stage(&Context::from_env().await?, &secret, &key, &cert).await,
        Command::Status { json } => status(&Context::from_env().await?, json).await,
        Command::Promote { secret, force } => promote(&Context::from_env().await?, &secret, force).await,
    }
}

fn new(common_name: &str, out: &std::path::Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (key_path, csr_path) = (out.join("key.pem"), out.join("request.csr"));
    for path in [&key_path, &csr_path] {
        if path.exists() {
            bail!(
                "{} exists: a key is never overwritten; choose another --out",
                path.display()
            );
        }
    }
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).context("generating an RSA key")?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).context("request parameters")?;
    params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
    let csr = params.serialize_request(&key).context("making the signing request")?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    std::fs::write(&csr_path, csr.pem().context("encoding the request")?)
        .with_context(|| format!("writing {}", csr_path.display()))?;
    println!(
        "wrote {} (the private key: keep it there) and {}",
        key_path.display(),
        csr_path.display()
    );
    println!(
        "next: have {} signed; then `digipost-ebox certificate stage --secret <id> --key {} --cert <signed.pem>`,\n\
         and ask every entity to upload the signed certificate to its \"DocConsumer e-Box Enterprise\" REST account",
        csr_path.display(),
        key_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

/// A secret's JSON, as an object.
async fn secret_json(ctx: &Context, id: &str) -> anyhow::Result<serde_json::Map<String, Value>> {
    let value = ctx
        .secrets
        .get(id)
        .await
        .with_context(|| format!("reading secret {id}"))?;
    match serde_json::from_str(value.expose_secret()) {
        Ok(Value::Object(map)) => Ok(map),
        _ => bail!("secret {id} is not a JSON object of the documented form"),
    }
}

async fn stage(ctx: &Context, secret: &str, key: &PathBuf, cert: &PathBuf) -> anyhow::Result<ExitCode> {
    let key_pem = std::fs::read_to_string(key).with_context(|| format!("reading the key {}", key.display()))?;
    let cert_pem =
        std::fs::read_to_string(cert).with_context(|| format!("reading the certificate {}", cert.display()))?;
    let next = crate::connections::usable_key_material(&key_pem, &cert_pem)
        .context("step key material: refused, nothing was stored")?;
    let mut json = secret_json(ctx, secret).await?;
    if !json.contains_key("private_key_pem") {
        bail!("secret {secret} holds no key material (it points at another secret): stage the next pair there");
    }
    if json.get("certificate_pem").and_then(Value::as_str) == Some(cert_pem.as_str()) {
        bail!("this certificate is already the current one of {secret}");
    }
    json.insert("next_private_key_pem".into(), Value::String(key_pem));
    json.insert("next_certificate_pem".into(), Value::String(cert_pem));
    ctx.secrets
        .put(secret, &Value::Object(json).to_string())
        .await
        .with_context(|| format!("storing the next pair in {secret}"))?;
    println!(
        "staged the next pair in {secret} (certificate {}, valid until {}): runs now try it first",
        next.certificate().subject,
        next.certificate().not_after.date_naive()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Row {
    entity_id: String,
    name: String,
    /// The secret holding its key material.
    secret_id: Option<String>,
    /// Whether that secret holds a next pair.
    rotating: bool,
    /// The pair its last run authenticated with; none before a run since the rotation began.
    on: Option<Pair>,
    current_days_left: Option<i64>,
    error: Option<String>,
}

async fn rows(ctx: &Context) -> anyhow::Result<Vec<Row>> {
    let now = Utc::now();
    let connections = all_connections(ctx).await?;
    // The last runs in batches, and each secret read once however many share it.
    let ids: Vec<_> = connections.iter().map(|c| c.entity_id.clone()).collect();
    let used: HashMap<_, _> = ctx
        .state
        .get_last_many(&ids)
        .await?
        .into_iter()
        .filter_map(|(id, r)| Some((id, r.report()?.certificate_thumbprint.clone()?)))
        .collect();
    let secrets = CachedSecrets::new(ctx.secrets.clone(), std::time::Duration::from_secs(300));
    let mut rows = Vec::new();
    for c in &connections {
        rows.push(row(&secrets, c, used.get(&c.entity_id).map(String::as_str), now).await);
    }
    // Those still to move lead.
    rows.sort_by_key(|r| (!(r.rotating && r.on != Some(Pair::Next)), r.entity_id.clone()));
    Ok(rows)
}

/// A connection's row: which of its secret's pairs has the thumbprint its last run used.
async fn row(secrets: &dyn SecretStore, c: &Connection, used: Option<&str>, now: DateTime<Utc>) -> Row {
    let mut row = Row {
        entity_id: c.entity_id.to_string(),
        name: c.name.clone(),
        secret_id: None,
        rotating: false,
        on: None,
        current_days_left: None,
        error: None,
    };
    match credentials::resolve_pairs(secrets, c).await {
        Ok(pairs) => {
            row.secret_id = Some(pairs.secret_id.clone());
            row.rotating = pairs.next.is_some();
            row.current_days_left = Some((pairs.current.key.certificate().not_after - now).num_days());
            row.on = pairs
                .in_order()
                .into_iter()
                .find(|(_, p)| used == Some(p.key.certificate().sha256_thumbprint.as_str()))
                .map(|(pair, _)| pair);
        }
        Err(e) => row.error = Some(e.to_string()),
    }
    row
}

async fn status(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let rows = rows(ctx).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = crate::table(["entity", "name", "secret", "on", "current days left", "error"]);
    for r in &rows {
        let on = match (r.rotating, r.on) {
            (_, Some(Pair::Next)) => "next",
            (true, Some(Pair::Current)) => "current (not moved)",
            (false, Some(Pair::Current)) => "current",
            (true, None) => "not seen since staging",
            (false, None) => "-",
        };
        table.add_row([
            r.entity_id.clone(),
            r.name.chars().take(28).collect::<String>(),
            r.secret_id.clone().unwrap_or_else(|| "-".into()),
            on.to_owned(),
            r.current_days_left.map_or_else(|| "-".into(), |d| d.to_string()),
            r.error.clone().unwrap_or_default(),
        ]);
    }
    println!("{table}");
    let mut by_secret: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.rotating) {
        let entry = by_secret.entry(r.secret_id.as_deref().unwrap_or("-")).or_default();
        entry.0 += usize::from(r.on == Some(Pair::Next));
        entry.1 += 1;
    }
    for (secret, (moved, all)) in by_secret {
        println!("{secret}: {moved} of {all} connections on the next certificate");
    }
    Ok(ExitCode::SUCCESS)
}

async fn promote(ctx: &Context, secret: &str, force: bool) -> anyhow::Result<ExitCode> {
    let mut json = secret_json(ctx, secret).await?;
    let (Some(key), Some(cert)) = (
        json.get("next_private_key_pem").cloned(),
        json.get("next_certificate_pem").cloned(),
    ) else {
        bail!("secret {secret} holds no next pair: `certificate stage` one first");
    };
    let rows = rows(ctx).await?;
    let behind: Vec<&Row> = rows
        .iter()
        .filter(|r| r.secret_id.as_deref() == Some(secret) && r.on != Some(Pair::Next))
        .collect();
    if !behind.is_empty() && !force {
        let names: Vec<String> = behind.iter().map(|r| format!("{} ({})", r.entity_id, r.name)).collect();
        bail!(
            "{} connection(s) using {secret} were not last seen on the next certificate: {}; \
             they must upload it to their REST account first (or --force, and their mail stops)",
            names.len(),
            names.join(", ")
        );
    }
    json.insert("private_key_pem".into(), key);
    json.insert("certificate_pem".into(), cert);
    json.remove("next_private_key_pem");
    json.remove("next_certificate_pem");
    ctx.secrets
        .put(secret, &Value::Object(json).to_string())
        .await
        .with_context(|| format!("promoting the next pair of {secret}"))?;
    println!("the next pair of {secret} is now its current one");
    Ok(ExitCode::SUCCESS)
}
