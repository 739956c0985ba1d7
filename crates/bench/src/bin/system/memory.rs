//! This process's memory while it delivers one 200 MB attachment, and after.

use bench::{Row, peak_rss, rss};

use crate::world::{Stores, add_big_message, request, world};

pub const TITLE: &str = "fetch memory (moto S3, simulator in-process)";

pub async fn rows() -> Vec<Row> {
    let w = world(Stores::Moto, 0).await;
    add_big_message(&w.sim);
    let before = rss();
    let report = w.fetcher.run(&request(), None).await;
    assert_eq!(report.delivered, 1, "{report:?}");
    let after_delivery = rss();
    let peak = peak_rss();
    let idle_started = rss();
    w.fetcher.run(&request(), None).await;
    let idle = rss().max(idle_started);
    let mb = |b: u64| b as f64 / 1e6;
    vec![
        Row::figure(
            "peak RSS delivering one 200 MB attachment (sim in-process)",
            format!("{:.1} MB", mb(peak)),
        )
        .goal("<= 32 MB")
        .at_most(mb(peak), 32.0),
        Row::figure(
            "RSS before / after that delivery",
            format!("{:.1} / {:.1} MB", mb(before), mb(after_delivery)),
        ),
        Row::figure(
            "RSS after an idle run (warm; with the simulator and moto client)",
            format!("{:.1} MB", mb(idle)),
        )
        .goal("(the fetch process alone: below)"),
    ]
}
