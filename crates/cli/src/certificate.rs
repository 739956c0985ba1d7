//! `digipost-ebox certificate`: DigiPost's certificate renewed across every entity, as a
//! campaign. A new key and its signing request (`new`); the signed certificate staged as
//! the next pair of a secret (`stage`); who is still on the current one (`status`); and,
//! once all have moved, the next pair made the current one (`promote`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::Utc;
use clap::Subcommand;
use delivery::fetch::credentials::Pair;
use delivery::ports::{SecretAdmin, SecretStore};
use delivery::rotation::{self, RotationRow};
use delivery::secret::ConnectionSecret;
use secrecy::ExposeSecret;

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
        /// The new private key (PEM), as `certificate new` wrote it.
        #[arg(long)]
        key: PathBuf,
        /// The certificate signed for that key (PEM).
        #[arg(long)]
        cert: PathBuf,
    },
    /// Per connection, which pair its last run used; those not yet on the next pair first.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Make a secret's next pair its current one. Refused while a connection using the
    /// secret was last seen on the current pair, unless --force.
    Promote {
        /// The secret whose next pair becomes its current one.
        #[arg(long)]
        secret: String,
        /// Promote even while a connection was last seen on the current pair.
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

/// The secret as its format reads it.
async fn secret(ctx: &Context, id: &str) -> anyhow::Result<ConnectionSecret> {
    let value = ctx
        .secrets
        .get(id)
        .await
        .with_context(|| format!("reading secret {id}"))?;
    Ok(ConnectionSecret::decode(id, value.expose_secret())?)
}

async fn stage(ctx: &Context, secret: &str, key: &PathBuf, cert: &PathBuf) -> anyhow::Result<ExitCode> {
    let key_pem = std::fs::read_to_string(key).with_context(|| format!("reading the key {}", key.display()))?;
    let cert_pem =
        std::fs::read_to_string(cert).with_context(|| format!("reading the certificate {}", cert.display()))?;
    let next = crate::key_material::usable_key_material(&key_pem, &cert_pem)
        .context("step key material: refused, nothing was stored")?;
    let mut stored = self::secret(ctx, secret).await?;
    stored.stage(secret, &key_pem, &cert_pem)?;
    ctx.secrets
        .put(secret, &stored.encode())
        .await
        .with_context(|| format!("storing the next pair in {secret}"))?;
    let touched = touch(ctx, secret).await?;
    println!(
        "staged the next pair in {secret} (certificate {}, valid until {}): the next run of each of its {touched} \
         connection(s) tries it first",
        next.certificate().subject,
        next.certificate().not_after.date_naive()
    );
    Ok(ExitCode::SUCCESS)
}

async fn rows(ctx: &Context) -> anyhow::Result<Vec<RotationRow>> {
    let connections = all_connections(ctx).await?;
    Ok(rotation::rows(&connections, ctx.state.as_ref(), ctx.secrets.clone(), Utc::now()).await?)
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

/// The connections of `secret` marked changed: their next runs read it again.
async fn touch(ctx: &Context, secret: &str) -> anyhow::Result<usize> {
    let rows = rows(ctx).await?;
    Ok(rotation::touch_connections(ctx.connections.as_ref(), &rows, secret, Utc::now()).await?)
}

async fn promote(ctx: &Context, secret: &str, force: bool) -> anyhow::Result<ExitCode> {
    let stored = self::secret(ctx, secret).await?;
    let promoted = rotation::promote(secret, stored, &rows(ctx).await?, force)?;
    ctx.secrets
        .put(secret, &promoted.encode())
        .await
        .with_context(|| format!("promoting the next pair of {secret}"))?;
    touch(ctx, secret).await?;
    println!("the next pair of {secret} is now its current one");
    Ok(ExitCode::SUCCESS)
}
