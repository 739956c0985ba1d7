//! `ebox-sim`: a local e-Box Enterprise. See the README for the control API.

use std::net::SocketAddr;

use clap::Parser;
use ebox_sim::data::Scenario;
use ebox_sim::{SimConfig, Simulator};

#[derive(Parser)]
#[command(about = "A local e-Box Enterprise: token endpoint, provider registry, message registries")]
struct Args {
    /// Address to listen on; keep it on loopback (the control API answers only there).
    #[arg(long, default_value = "127.0.0.1:8700")]
    listen: SocketAddr,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 600)]
    token_lifetime: i64,
    /// Audience client assertions must carry (default: the token URL).
    #[arg(long)]
    audience: Option<String>,
    /// Fill these enterprises' e-Boxes with generated messages (comma separated).
    #[arg(long, value_delimiter = ',')]
    enterprises: Vec<String>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 12)]
    messages: usize,
    #[arg(long, default_value_t = 2)]
    attachments: usize,
    /// Bytes per generated attachment.
    #[arg(long, default_value_t = 48 * 1024)]
    attachment_size: u64,
    /// Load messages from a fixture file: a JSON list of {provider, enterprise, message}.
    #[arg(long)]
    fixture: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let config = SimConfig {
        audience: args.audience,
        token_lifetime: chrono::Duration::seconds(args.token_lifetime),
        ..SimConfig::default()
    };
    let sim = Simulator::start_on(args.listen, config).await?;
    if !args.enterprises.is_empty() {
        sim.generate(&Scenario {
            seed: args.seed,
            enterprises: args.enterprises,
            messages_per_enterprise: args.messages,
            attachments_per_message: args.attachments,
            attachment_size: args.attachment_size,
            providers: vec![],
        });
    }
    if let Some(path) = &args.fixture {
        let text = std::fs::read_to_string(path)?;
        let loaded = ebox_sim::control::load_fixture(sim.shared(), &text).map_err(std::io::Error::other)?;
        println!("loaded {loaded} messages from {}", path.display());
    }
    println!("ebox-sim listening on {}", sim.base_url());
    println!("  token endpoint     {}", sim.token_url());
    println!("  audience           {}", sim.audience());
    println!("  provider registry  {}", sim.document_provider_registry_url());
    println!("  (older one)        {}", sim.message_providers_url());
    println!("  control API        {}/control/...", sim.base_url());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    drop(sim);
    Ok(())
}
