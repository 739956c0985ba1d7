//! The whole system against its limits. One scenario per process, so that each memory
//! figure is its own: `system <scenario>`, or `system all` for every scenario in turn,
//! each in a process of its own.

mod backlog;
mod cost;
mod fanout;
mod first;
mod idle;
mod memory;
mod process;
mod procfs;
mod quota;
mod reference;
mod requests;
mod runtime;
mod slow_store;
mod start;
mod throughput;
mod world;

use std::future::Future;
use std::pin::Pin;

use bench::{Row, print_rows};

type Rows = Pin<Box<dyn Future<Output = Vec<Row>>>>;

/// A scenario: its name on the command line, the title of its table, and its rows.
struct Scenario {
    name: &'static str,
    title: &'static str,
    rows: fn() -> Rows,
}

/// Every scenario, in the order `all` runs them.
const SCENARIOS: [Scenario; 9] = [
    Scenario {
        name: "throughput",
        title: throughput::TITLE,
        rows: || Box::pin(throughput::rows()),
    },
    Scenario {
        name: "idle",
        title: idle::TITLE,
        rows: || Box::pin(idle::rows()),
    },
    Scenario {
        name: "memory",
        title: memory::TITLE,
        rows: || Box::pin(memory::rows()),
    },
    Scenario {
        name: "process",
        title: process::TITLE,
        rows: || Box::pin(process::rows()),
    },
    Scenario {
        name: "first",
        title: first::TITLE,
        rows: || Box::pin(first::rows()),
    },
    Scenario {
        name: "backlog",
        title: backlog::TITLE,
        rows: || Box::pin(backlog::rows()),
    },
    Scenario {
        name: "slow_s3",
        title: slow_store::TITLE,
        rows: || Box::pin(slow_store::rows()),
    },
    Scenario {
        name: "fanout",
        title: fanout::TITLE,
        rows: || Box::pin(fanout::rows()),
    },
    Scenario {
        name: "start",
        title: start::TITLE,
        rows: || Box::pin(start::rows()),
    },
];

fn main() {
    let argument = std::env::args().nth(1).unwrap_or_default();
    if argument == "all" {
        std::process::exit(all());
    }
    let Some(scenario) = SCENARIOS.iter().find(|s| s.name == argument) else {
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        eprintln!("usage: system {}|all (got {argument:?})", names.join("|"));
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rows = runtime.block_on((scenario.rows)());
    print_rows(scenario.title, &rows);
}

/// Runs every scenario in a process of its own, one after the other, on past any that
/// fails; the exit code is 1 if one did.
fn all() -> i32 {
    let exe = std::env::current_exe().expect("this program's path");
    let mut failed = Vec::new();
    for scenario in &SCENARIOS {
        let status = std::process::Command::new(&exe).arg(scenario.name).status();
        if !status.as_ref().is_ok_and(|s| s.success()) {
            eprintln!("system {}: {status:?}", scenario.name);
            failed.push(scenario.name);
        }
    }
    if failed.is_empty() {
        0
    } else {
        eprintln!("failed: {}", failed.join(", "));
        1
    }
}
