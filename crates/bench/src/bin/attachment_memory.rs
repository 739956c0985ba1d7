//! Memory while the e-Box client streams one large attachment: peak RSS must not grow
//! with the attachment's size (the stream is hashed as it flows, never held).

use bench::*;
use ebox::model::ProviderState;
use futures::StreamExt;

const ENTERPRISE: &str = "0403170701";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (sim, session) = simulator_with_session(ENTERPRISE).await;
    for (id, size) in [("small", 20_000_000u64), ("large", 200_000_000u64)] {
        add_message_with_attachment(&sim, ENTERPRISE, id, size);
    }
    let now = sim.now();
    let provider = session
        .providers()
        .await
        .unwrap()
        .providers
        .iter()
        .find(|p| p.state(now) == ProviderState::Active)
        .cloned()
        .unwrap();
    let mut peaks = Vec::new();
    for id in ["small", "large"] {
        let message = session.message(&provider, id).await.unwrap().message;
        let attachment = &message.attachments()[0];
        let baseline = rss();
        let download = session.attachment(&provider, id, attachment).await.unwrap();
        let verified = download.sha256.clone();
        let mut chunks = download.chunks;
        let mut bytes = 0u64;
        let mut peak = 0u64;
        while let Some(chunk) = chunks.next().await {
            bytes += chunk.unwrap().len() as u64;
            peak = peak.max(rss());
        }
        assert!(verified.get().is_some(), "digest verified");
        peaks.push((id, bytes, baseline, peak));
    }
    let growth = |(_, _, baseline, peak): &(&str, u64, u64, u64)| peak.saturating_sub(*baseline) as f64 / 1e6;
    let (small, large) = (growth(&peaks[0]), growth(&peaks[1]));
    let rows: Vec<Row> = peaks
        .iter()
        .map(|p| {
            Row::figure(
                format!("RSS growth streaming {} MB (simulator in-process)", p.1 / 1_000_000),
                format!("{:.1} MB", growth(p)),
            )
            .goal("flat in size")
            .at_most(growth(p), 16.0)
        })
        .chain([
            Row::figure("growth(200 MB) - growth(20 MB)", format!("{:.1} MB", large - small))
                .goal("<= 4 MB")
                .at_most(large - small, 4.0),
        ])
        .collect();
    print_rows("e-Box client streaming memory", &rows);
    println!("peak RSS of the process: {:.1} MB", peak_rss() as f64 / 1e6);
}
