//! One conformance suite, two backends: every test runs against the in-memory twins and
//! against the AWS adapters talking HTTP to a real moto server.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use delivery::EntityId;
use delivery::fetch::{Outcome, RunReport};
use delivery::health::{Action, Health, HealthState};
use delivery::ports::*;
use delivery::secrets_cache::CachedSecrets;
use futures::StreamExt;
use secrecy::ExposeSecret;

use testkit::backend::{Backend, Secrets};

testkit::both_backends!(
    connections_round_trip,
    connections_page_through_all,
    onboardings_round_trip,
    lease_is_exclusive_until_it_expires,
    cursor_never_moves_backwards,
    snapshot_reads_lease_cursors_and_last_run_but_no_ledger,
    ledger_records_each_message_once,
    ledger_records_and_notes_many_at_once,
    ledger_rows_are_the_outbox_of_their_events,
    writes_are_fenced_by_the_lease,
    run_report_round_trip,
    object_round_trip_with_checksum,
    object_metadata_comes_back_from_head,
    object_conditional_create_loses_cleanly,
    object_with_wrong_checksum_is_refused,
    object_streamed_in_chunks_reads_back_identical,
    streamed_object_that_fails_its_checks_is_not_stored,
    objects_listed_by_prefix,
    secret_read_once_then_served_from_cache,
    missing_secret_is_not_found,
    an_answer_is_kept_once_under_its_key,
);

async fn an_answer_is_kept_once_under_its_key(b: Backend) {
    let key = testkit::unique_name("key");
    assert_eq!(b.answers.recall(&key).await.unwrap(), None);
    let first = Answer {
        request: "digest-1".into(),
        status: 201,
        body: r#"{"entity_id": "0403170701"}"#.into(),
    };
    assert!(b.answers.remember(&key, &first, at(86_400)).await.unwrap());
    let second = Answer {
        status: 409,
        ..first.clone()
    };
    assert!(
        !b.answers.remember(&key, &second, at(86_400)).await.unwrap(),
        "the first stays"
    );
    assert_eq!(b.answers.recall(&key).await.unwrap(), Some(first));
    assert_eq!(b.answers.recall(&testkit::unique_name("other")).await.unwrap(), None);
    // The holder of a claim settles it over what is kept.
    b.answers.settle(&key, &second, at(86_400)).await.unwrap();
    assert_eq!(b.answers.recall(&key).await.unwrap(), Some(second));
}

fn entity(n: u32) -> EntityId {
    testkit::backend::entity(4, n)
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + seconds, 0).unwrap()
}

fn connection(n: u32, shared: bool) -> Connection {
    let entity_id = entity(n);
    Connection {
        scopes: n
            .is_multiple_of(2)
            .then(|| vec!["scope:old:messagesfull".into(), "scope:old:referencedata".into()]),
        name: format!("Agentschap {n}"),
        enabled: true,
        credentials: if shared {
            CredentialsRef::SharedCertificate {
                client_id: format!("client-{n}"),
                certificate_secret_id: "digipost/ebox/certificate".into(),
            }
        } else {
            CredentialsRef::Secret {
                secret_id: format!("digipost/ebox/connections/{entity_id}"),
            }
        },
        verdeelbak_prefix: Connection::default_prefix(&entity_id),
        created_at: at(0),
        updated_at: at(0),
        health: n.is_multiple_of(3).then(|| Health {
            state: HealthState::NeedsAction,
            since: at(7),
            action: Some(Action::CertificateUpload),
            reason: Some("token: refused".into()),
        }),
        onboarding: None,
        entity_id,
    }
}

/// An onboarding that waits for its ClientID, then is tested: refused, then connected.
async fn onboardings_round_trip(b: Backend) {
    use delivery::onboarding::{Onboarding, Refusal, Step};
    let mut c = Connection::new(entity(5), "Agentschap 5", CredentialsRef::AwaitingClientId, at(0));
    let mut onboarding = Onboarding::requested(Some("FP-2026-0042".into()), at(0));
    onboarding.reach(Step::CertificateHandedOver, at(10)).unwrap();
    onboarding.certificate = Some("3f9a".into());
    c.onboarding = Some(onboarding.clone());
    assert_eq!(b.connections.insert(&c).await.unwrap(), Insert::Inserted);
    let read = b.connections.get(&c.entity_id).await.unwrap().unwrap();
    assert_eq!(read, c);
    assert!(!read.is_connected());
    assert_eq!(read.onboarding_step(), Step::CertificateHandedOver);
    // Not before it delivers: the record has no such step to write yet, and none is made.
    assert!(!b.connections.first_message_delivered(&entity(6), at(11)).await.unwrap());
    assert_eq!(b.connections.get(&entity(6)).await.unwrap(), None);

    onboarding.tested(
        Some(Refusal {
            action: Some(Action::DocumentConsumerRegistration),
            reason: "token: invalid_scope".into(),
        }),
        at(20),
    );
    // Written only over the connection as it was read (updated at 0).
    let stale = b.connections.set_onboarding(&c.entity_id, &onboarding, at(-1), at(20));
    assert!(!stale.await.unwrap(), "changed since it was read: nothing written");
    assert_eq!(b.connections.get(&c.entity_id).await.unwrap().unwrap(), c);
    let recorded = b.connections.set_onboarding(&c.entity_id, &onboarding, at(0), at(20));
    assert!(recorded.await.unwrap());
    let refused = b.connections.get(&c.entity_id).await.unwrap().unwrap();
    assert_eq!(refused.onboarding.as_ref(), Some(&onboarding));
    assert_eq!((refused.updated_at, refused.is_connected()), (at(20), false));
    let six = entity(6);
    let none = b.connections.set_onboarding(&six, &onboarding, at(20), at(21));
    assert!(!none.await.unwrap());
    assert_eq!(b.connections.get(&entity(6)).await.unwrap(), None, "none made");

    onboarding.tested(None, at(30));
    c.credentials = CredentialsRef::SharedCertificate {
        client_id: "client-5".into(),
        certificate_secret_id: "digipost/ebox/certificate".into(),
    };
    c.onboarding = Some(onboarding.clone());
    c.updated_at = at(30);
    // Replaced only over the connection as it was read.
    assert!(!b.connections.replace(&c, at(0)).await.unwrap(), "stale");
    assert!(!b.connections.get(&c.entity_id).await.unwrap().unwrap().is_connected());
    assert!(b.connections.replace(&c, at(20)).await.unwrap());
    let gone = Connection::new(entity(6), "gone", CredentialsRef::AwaitingClientId, at(0));
    assert!(!b.connections.replace(&gone, at(0)).await.unwrap(), "none to replace");
    assert_eq!(b.connections.get(&entity(6)).await.unwrap(), None);
    assert!(b.connections.get(&c.entity_id).await.unwrap().unwrap().is_connected());

    // The first delivered message is recorded once, its first date kept.
    assert!(
        b.connections
            .first_message_delivered(&c.entity_id, at(40))
            .await
            .unwrap()
    );
    assert!(
        !b.connections
            .first_message_delivered(&c.entity_id, at(50))
            .await
            .unwrap()
    );
    let done = b.connections.get(&c.entity_id).await.unwrap().unwrap();
    let done = done.onboarding.unwrap();
    assert_eq!(done.current(), Some((Step::FirstMessageDelivered, at(40))));
    assert_eq!(done.connected_at, Some(at(30)));
    // A connection without an onboarding record (made before they were kept) gets none.
    let old = connection(7, true);
    b.connections.put(&old).await.unwrap();
    assert!(
        !b.connections
            .first_message_delivered(&old.entity_id, at(60))
            .await
            .unwrap()
    );
    assert_eq!(b.connections.get(&old.entity_id).await.unwrap(), Some(old));
}

async fn connections_round_trip(b: Backend) {
    let c = connection(1, false);
    assert_eq!(b.connections.insert(&c).await.unwrap(), Insert::Inserted);
    let mut other = c.clone();
    other.name = "overwritten?".into();
    assert_eq!(b.connections.insert(&other).await.unwrap(), Insert::AlreadyExists);
    assert_eq!(b.connections.get(&c.entity_id).await.unwrap(), Some(c.clone()));

    assert!(b.connections.set_enabled(&c.entity_id, false, at(5)).await.unwrap());
    let disabled = b.connections.get(&c.entity_id).await.unwrap().unwrap();
    assert!(!disabled.enabled);
    assert_eq!(disabled.updated_at, at(5));
    assert!(!b.connections.set_enabled(&entity(2), true, at(6)).await.unwrap());
    assert_eq!(b.connections.get(&entity(2)).await.unwrap(), None);
    // Marked changed (key material staged): only its time moves.
    assert!(b.connections.touch(&c.entity_id, at(7)).await.unwrap());
    let touched = b.connections.get(&c.entity_id).await.unwrap().unwrap();
    assert_eq!((touched.updated_at, touched.enabled), (at(7), false));
    assert!(!b.connections.touch(&entity(2), at(7)).await.unwrap());
    assert_eq!(b.connections.get(&entity(2)).await.unwrap(), None);

    // Health is written on its own: nothing else of the connection changes.
    let health = Health {
        state: HealthState::NeedsAction,
        since: at(8),
        action: Some(Action::WebserviceAccount),
        reason: Some("token: token refused (401, invalid_client): unknown client".into()),
    };
    assert!(b.connections.set_health(&c.entity_id, &health).await.unwrap());
    let recorded = b.connections.get(&c.entity_id).await.unwrap().unwrap();
    assert_eq!(recorded.health.as_ref(), Some(&health));
    assert_eq!((recorded.enabled, &recorded.name), (false, &c.name));
    assert!(!b.connections.set_health(&entity(2), &health).await.unwrap());
    assert_eq!(
        b.connections.get(&entity(2)).await.unwrap(),
        None,
        "no connection made by it"
    );

    let shared = connection(3, true);
    b.connections.put(&shared).await.unwrap();
    assert_eq!(
        b.connections.get(&shared.entity_id).await.unwrap(),
        Some(shared.clone())
    );

    assert!(b.connections.remove(&c.entity_id).await.unwrap());
    assert!(!b.connections.remove(&c.entity_id).await.unwrap());
    assert_eq!(b.connections.get(&c.entity_id).await.unwrap(), None);
}

async fn connections_page_through_all(b: Backend) {
    for n in 0..7 {
        b.connections.put(&connection(n, n % 2 == 0)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut from = None;
    for _ in 0..20 {
        let page = b.connections.page(from.clone(), 3).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|c| c.entity_id));
        from = page.next;
        if from.is_none() {
            break;
        }
    }
    assert!(from.is_none(), "paging did not end");
    seen.sort();
    let expected: Vec<EntityId> = (0..7).map(entity).collect();
    assert_eq!(seen, expected);
}

async fn lease_is_exclusive_until_it_expires(b: Backend) {
    let e = entity(1);
    assert_eq!(
        b.stores.leases.acquire(&e, "run-a", at(900), at(0)).await.unwrap(),
        LeaseOutcome::Acquired
    );
    assert_eq!(
        b.stores.leases.acquire(&e, "run-b", at(1000), at(10)).await.unwrap(),
        LeaseOutcome::HeldBy {
            holder: "run-a".into(),
            until: at(900)
        }
    );
    // Another entity is not affected.
    assert_eq!(
        b.stores
            .leases
            .acquire(&entity(2), "run-b", at(900), at(10))
            .await
            .unwrap(),
        LeaseOutcome::Acquired
    );
    // The holder may extend its own lease.
    assert_eq!(
        b.stores.leases.acquire(&e, "run-a", at(1200), at(20)).await.unwrap(),
        LeaseOutcome::Acquired
    );
    assert!(matches!(
        b.stores.leases.acquire(&e, "run-b", at(2000), at(1100)).await.unwrap(),
        LeaseOutcome::HeldBy { until, .. } if until == at(1200)
    ));
    assert!(matches!(
        b.stores.leases.acquire(&e, "run-b", at(2000), at(1199)).await.unwrap(),
        LeaseOutcome::HeldBy { .. }
    ));
    // At its `until` a lease is expired, in every store: a lease left by a killed run is
    // taken over.
    assert_eq!(
        b.stores.leases.acquire(&e, "run-b", at(2000), at(1200)).await.unwrap(),
        LeaseOutcome::Acquired
    );
    assert!(
        !b.stores.leases.renew(&e, "run-a", at(3000)).await.unwrap(),
        "a lease taken over cannot be renewed by its old holder"
    );
    assert!(b.stores.leases.renew(&e, "run-b", at(2500)).await.unwrap());
    assert!(
        b.stores.leases.renew(&e, "run-b", at(2500)).await.unwrap(),
        "renewed twice: a retry"
    );
    assert!(matches!(
        b.stores.leases.acquire(&e, "run-c", at(3000), at(2400)).await.unwrap(),
        LeaseOutcome::HeldBy { until, .. } if until == at(2500)
    ));
    assert!(
        !b.stores.leases.release(&e, "run-a").await.unwrap(),
        "a lost lease cannot be released"
    );
    assert!(b.stores.leases.release(&e, "run-b").await.unwrap());
    assert_eq!(
        b.stores.leases.acquire(&e, "run-c", at(2100), at(1300)).await.unwrap(),
        LeaseOutcome::Acquired
    );
}

fn cursor(seconds: i64, recent: &[(&str, i64)]) -> Cursor {
    Cursor {
        position: at(seconds),
        recent: recent.iter().map(|(id, s)| ((*id).to_owned(), at(*s))).collect(),
        // Kept beside the recent ones, so that the round trip covers it.
        unreadable: recent
            .iter()
            .map(|(id, s)| (format!("{id:0>64}"), at(*s - 60)))
            .collect(),
        registry_url: format!("https://registry.example/r{seconds}/v3/"),
        also_known_as: recent.iter().map(|(id, _)| format!("aka-{id}")).collect(),
    }
}

/// Takes the entity's lease for `holder`, for the fenced writes of a test.
async fn hold<'a>(b: &Backend, e: &EntityId, holder: &'a str) -> Fence<'a> {
    let outcome = b.stores.leases.acquire(e, holder, at(1_000_000), at(0)).await.unwrap();
    assert_eq!(outcome, LeaseOutcome::Acquired);
    Fence(holder)
}

async fn cursor_never_moves_backwards(b: Backend) {
    let e = entity(1);
    let fence = hold(&b, &e, "run-a").await;
    let position = |c: Option<Cursor>| c.map(|c| c.position);
    assert_eq!(b.inspect.cursor(&e, "p1").await.unwrap(), None);
    let first = cursor(100, &[("m#1", 90), ("m-2", 100)]);
    assert_eq!(
        b.stores.cursors.advance(&e, "p1", &first, fence).await.unwrap(),
        CursorOutcome::Advanced
    );
    assert_eq!(b.inspect.cursor(&e, "p1").await.unwrap(), Some(first.clone()));
    assert_eq!(
        b.stores
            .cursors
            .advance(&e, "p1", &cursor(50, &[]), fence)
            .await
            .unwrap(),
        CursorOutcome::WouldMoveBackwards { current: at(100) }
    );
    assert_eq!(b.inspect.cursor(&e, "p1").await.unwrap(), Some(first));
    // The same position with other remembered messages: stored.
    let same = cursor(100, &[("m-3", 100)]);
    assert_eq!(
        b.stores.cursors.advance(&e, "p1", &same, fence).await.unwrap(),
        CursorOutcome::Advanced
    );
    assert_eq!(b.inspect.cursor(&e, "p1").await.unwrap(), Some(same));
    assert_eq!(
        b.stores
            .cursors
            .advance(&e, "p1", &cursor(200, &[]), fence)
            .await
            .unwrap(),
        CursorOutcome::Advanced
    );
    assert_eq!(b.inspect.cursor(&e, "p1").await.unwrap(), Some(cursor(200, &[])));
    // Cursors are per provider and per entity.
    assert_eq!(position(b.inspect.cursor(&e, "p2").await.unwrap()), None);
    assert_eq!(position(b.inspect.cursor(&entity(2), "p1").await.unwrap()), None);
    assert_eq!(
        b.stores
            .cursors
            .advance(&e, "p2", &cursor(10, &[]), fence)
            .await
            .unwrap(),
        CursorOutcome::Advanced
    );
}

async fn snapshot_reads_lease_cursors_and_last_run_but_no_ledger(b: Backend) {
    let e = entity(1);
    assert_eq!(b.stores.snapshots.snapshot(&e).await.unwrap(), EntityState::default());
    b.stores.leases.acquire(&e, "run-a", at(1000), at(0)).await.unwrap();
    let fence = Fence("run-a");
    b.stores
        .cursors
        .advance(&e, "p#1", &cursor(100, &[("m-1", 100)]), fence)
        .await
        .unwrap();
    b.stores
        .cursors
        .advance(&e, "p2", &cursor(200, &[]), fence)
        .await
        .unwrap();
    let report = run_report(&e, Outcome::Ok, 0);
    b.stores.reports.put_last(&e, &report, Some(fence)).await.unwrap();
    let entry = LedgerEntry {
        provider_id: "p#1".into(),
        message_id: "m-1".into(),
        delivered_at: at(10),
        message_key: "k".into(),
        message_sha256: "ab".repeat(32),
        expires_at: None,
        event_pending: false,
    };
    b.stores.ledger.record(&e, &entry).await.unwrap();
    // Another entity's state is not part of it.
    b.stores
        .leases
        .acquire(&entity(2), "run-b", at(1000), at(0))
        .await
        .unwrap();
    b.stores
        .cursors
        .advance(&entity(2), "p3", &cursor(300, &[]), Fence("run-b"))
        .await
        .unwrap();

    let state = b.stores.snapshots.snapshot(&e).await.unwrap();
    assert_eq!(
        state.lease,
        Some(Lease {
            holder: "run-a".into(),
            until: at(1000)
        })
    );
    assert_eq!(
        state.cursors.into_iter().collect::<Vec<_>>(),
        vec![
            ("p#1".to_owned(), cursor(100, &[("m-1", 100)])),
            ("p2".to_owned(), cursor(200, &[])),
        ]
    );
    assert_eq!(state.last_run, Some(StoredRun::Report(Box::new(report))));
}

async fn ledger_records_each_message_once(b: Backend) {
    let e = entity(1);
    let entry = LedgerEntry {
        provider_id: "p#1".into(),
        message_id: "m-1".into(),
        delivered_at: at(10),
        message_key: "verdeelbak/x/p1/m-1/message.json".into(),
        message_sha256: "ab".repeat(32),
        expires_at: Some(at(86_400 * 60)),
        event_pending: false,
    };
    assert_eq!(b.inspect.ledger_entry(&e, "p#1", "m-1").await.unwrap(), None);
    assert_eq!(b.stores.ledger.record(&e, &entry).await.unwrap(), Insert::Inserted);
    // The very same entry again, as a retry after a lost answer: its own write, done.
    assert_eq!(b.stores.ledger.record(&e, &entry).await.unwrap(), Insert::Inserted);
    // The same delivery recorded at another time (a store keeps times less precisely):
    // still this entry's.
    let later = LedgerEntry {
        delivered_at: at(11),
        ..entry.clone()
    };
    assert_eq!(b.stores.ledger.record(&e, &later).await.unwrap(), Insert::Inserted);
    // Another message.json for the same message: another run's, not this one's.
    let mut again = entry.clone();
    again.delivered_at = at(20);
    again.message_sha256 = "cd".repeat(32);
    assert_eq!(b.stores.ledger.record(&e, &again).await.unwrap(), Insert::AlreadyExists);
    assert_eq!(
        b.inspect.ledger_entry(&e, "p#1", "m-1").await.unwrap(),
        Some(entry.clone())
    );
    // The same message id under another provider or entity is another message.
    assert_eq!(b.inspect.ledger_entry(&e, "p", "1#m-1").await.unwrap(), None);
    assert_eq!(b.inspect.ledger_entry(&entity(2), "p#1", "m-1").await.unwrap(), None);
    let no_expiry = LedgerEntry {
        expires_at: None,
        event_pending: false,
        ..entry.clone()
    };
    assert_eq!(
        b.stores.ledger.record(&entity(2), &no_expiry).await.unwrap(),
        Insert::Inserted
    );
    assert_eq!(
        b.inspect.ledger_entry(&entity(2), "p#1", "m-1").await.unwrap(),
        Some(no_expiry)
    );

    // Many at once: 250 asked, across three round trips, 120 delivered.
    for n in 0..120 {
        let e = LedgerEntry {
            message_id: format!("bulk-{n}"),
            ..entry.clone()
        };
        b.stores.ledger.record(&e1(), &e).await.unwrap();
    }
    let asked: Vec<String> = (0..250).map(|n| format!("bulk-{n}")).collect();
    let found = b.stores.ledger.delivered_among(&e1(), "p#1", &asked).await.unwrap();
    assert_eq!(found.len(), 120);
    assert!(found.contains("bulk-0") && found.contains("bulk-119") && !found.contains("bulk-120"));
    assert!(
        b.stores
            .ledger
            .delivered_among(&entity(2), "p#1", &asked)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        b.stores
            .ledger
            .delivered_among(&e1(), "other", &asked)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn ledger_records_and_notes_many_at_once(b: Backend) {
    let e = entity(3);
    let entry = |id: &str, sha: &str| LedgerEntry {
        provider_id: "p".into(),
        message_id: id.into(),
        delivered_at: at(10),
        message_key: format!("verdeelbak/x/p/{id}/message.json"),
        message_sha256: sha.repeat(32),
        expires_at: Some(at(86_400 * 60)),
        event_pending: false,
    };
    let ledger = &b.stores.ledger;
    let fresh = [entry("a", "aa"), entry("b", "bb"), entry("c", "cc")];
    let answers = ledger.record_many(&e, &fresh).await;
    assert!(answers.iter().all(|a| matches!(a, Ok(Insert::Inserted))), "{answers:?}");
    for row in &fresh {
        assert_eq!(
            b.inspect.ledger_entry(&e, "p", &row.message_id).await.unwrap().as_ref(),
            Some(row)
        );
    }
    // With rows there already: the very same entry (a retry after a lost answer) is its
    // own; another delivery of a recorded message is not; a new one is recorded still.
    let mixed = [entry("a", "aa"), entry("b", "dd"), entry("d", "ee")];
    let answers: Vec<Insert> = ledger
        .record_many(&e, &mixed)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(answers, [Insert::Inserted, Insert::AlreadyExists, Insert::Inserted]);
    assert_eq!(
        b.inspect.ledger_entry(&e, "p", "b").await.unwrap().as_ref(),
        Some(&fresh[1])
    );
    assert_eq!(
        b.inspect.ledger_entry(&e, "p", "d").await.unwrap().as_ref(),
        Some(&mixed[2])
    );
    // A lone row: its own after a lost answer, another delivery's, a new one.
    for (row, answer) in [
        (entry("a", "aa"), Insert::Inserted),
        (entry("b", "dd"), Insert::AlreadyExists),
        (entry("e", "ee"), Insert::Inserted),
    ] {
        let answers = ledger.record_many(&e, std::slice::from_ref(&row)).await;
        assert!(matches!(answers[..], [Ok(a)] if a == answer), "{row:?}: {answers:?}");
    }
    // More than one transaction holds.
    let many: Vec<LedgerEntry> = (0..105).map(|n| entry(&format!("n-{n}"), "ff")).collect();
    let answers = ledger.record_many(&e, &many).await;
    assert_eq!(answers.len(), 105);
    assert!(answers.iter().all(|a| matches!(a, Ok(Insert::Inserted))));
    let ids: Vec<String> = (0..105).map(|n| format!("n-{n}")).collect();
    assert_eq!(ledger.delivered_among(&e, "p", &ids).await.unwrap().len(), 105);

    // Retrieval notes: the first facts kept stay, each message's own.
    let facts = |seconds: i64| Retrieval {
        at: at(seconds),
        read_before: false,
    };
    let note = |id: &'static str, seconds: i64| RetrievalNote {
        message: MessageRef {
            provider_id: "p",
            message_id: id,
        },
        retrieval: facts(seconds),
        keep_until: at(86_400 * 60),
    };
    let kept: Vec<Retrieval> = ledger
        .note_retrievals(&e, &[note("a", 1), note("b", 2)])
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(kept, [facts(1), facts(2)]);
    let kept: Vec<Retrieval> = ledger
        .note_retrievals(&e, &[note("c", 30), note("b", 31), note("d", 32)])
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(kept, [facts(30), facts(2), facts(32)]);
    let lone = ledger.note_retrievals(&e, &[note("c", 40)]).await;
    assert!(matches!(lone[..], [Ok(k)] if k == facts(30)), "{lone:?}");
    for (id, seconds) in [("a", 1), ("b", 2), ("c", 30), ("d", 32)] {
        let message = MessageRef {
            provider_id: "p",
            message_id: id,
        };
        assert_eq!(
            ledger.noted_retrieval(&e, &message).await.unwrap(),
            Some(facts(seconds))
        );
    }
}

fn e1() -> EntityId {
    entity(1)
}

async fn run_report_round_trip(b: Backend) {
    let e = entity(1);
    assert_eq!(b.stores.reports.get_last(&e).await.unwrap(), None);
    let report = run_report(&e, Outcome::Ok, 3);
    // Unfenced, as a run that wrote nothing else stores it.
    b.stores.reports.put_last(&e, &report, None).await.unwrap();
    let fence = hold(&b, &e, "run-a").await;
    let newer = run_report(&e, Outcome::Partial, 0);
    b.stores.reports.put_last(&e, &newer, Some(fence)).await.unwrap();
    assert_eq!(
        b.stores.reports.get_last(&e).await.unwrap(),
        Some(StoredRun::Report(Box::new(newer)))
    );
}

/// Every write of state that a run makes under its lease (the cursor, the status) is
/// refused once another run has taken the lease over, and nothing of it is written; the
/// new holder's go through. (A ledger row is not fenced: see `Ledger::record`.)
async fn writes_are_fenced_by_the_lease(b: Backend) {
    let e = entity(1);
    assert_eq!(
        b.stores.leases.acquire(&e, "run-a", at(100), at(0)).await.unwrap(),
        LeaseOutcome::Acquired
    );
    // run-a stalls past its lease; run-b takes the entity over.
    assert_eq!(
        b.stores.leases.acquire(&e, "run-b", at(300), at(100)).await.unwrap(),
        LeaseOutcome::Acquired
    );
    let stale = Fence("run-a");
    let refused = b
        .stores
        .cursors
        .advance(&e, "p1", &cursor(50, &[]), stale)
        .await
        .unwrap_err();
    assert!(refused.lease_lost && refused.retryable, "{refused}");
    let report = run_report(&e, Outcome::Ok, 0);
    let refused = b.stores.reports.put_last(&e, &report, Some(stale)).await.unwrap_err();
    assert!(refused.lease_lost, "{refused}");
    assert_eq!(b.inspect.cursor(&e, "p1").await.unwrap(), None);
    assert_eq!(b.stores.reports.get_last(&e).await.unwrap(), None);
    // No lease at all (released) fences as well.
    assert!(b.stores.leases.release(&e, "run-b").await.unwrap());
    let refused = b
        .stores
        .reports
        .put_last(&e, &report, Some(Fence("run-b")))
        .await
        .unwrap_err();
    assert!(refused.lease_lost, "{refused}");
    // The holder's writes go through.
    let fence = hold(&b, &e, "run-c").await;
    b.stores.reports.put_last(&e, &report, Some(fence)).await.unwrap();
    assert_eq!(
        b.stores.reports.get_last(&e).await.unwrap(),
        Some(StoredRun::Report(Box::new(report)))
    );
    assert_eq!(
        b.stores
            .cursors
            .advance(&e, "p1", &cursor(50, &[]), fence)
            .await
            .unwrap(),
        CursorOutcome::Advanced
    );
}

fn put(key: &str, bytes: &[u8], if_absent: bool) -> PutObject {
    PutObject {
        key: key.into(),
        body: ObjectBody::Bytes(Bytes::copy_from_slice(bytes)),
        sha256: sha256_of(bytes),
        content_type: "application/pdf".into(),
        if_absent,
        metadata: Vec::new(),
    }
}

async fn object_round_trip_with_checksum(b: Backend) {
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        b.objects.put(put("a/b/c.pdf", &bytes, false)).await.unwrap(),
        Insert::Inserted
    );
    assert_eq!(b.objects.get("a/b/c.pdf").await.unwrap().as_deref(), Some(&bytes[..]));
    let meta = b.objects.head("a/b/c.pdf").await.unwrap().unwrap();
    assert_eq!(meta.size, bytes.len() as u64);
    assert_eq!(meta.sha256, Some(sha256_of(&bytes)));
    assert_eq!(b.objects.head("a/b/missing").await.unwrap(), None);
    assert_eq!(b.objects.get("a/b/missing").await.unwrap(), None);
}

async fn object_conditional_create_loses_cleanly(b: Backend) {
    assert_eq!(
        b.objects.put(put("k/message.json", b"first", true)).await.unwrap(),
        Insert::Inserted
    );
    assert_eq!(
        b.objects.put(put("k/message.json", b"second", true)).await.unwrap(),
        Insert::AlreadyExists
    );
    assert_eq!(
        b.objects.get("k/message.json").await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
}

async fn object_with_wrong_checksum_is_refused(b: Backend) {
    let mut object = put("k/bad.pdf", b"the real bytes", false);
    object.sha256 = sha256_of(b"other bytes");
    let err = b.objects.put(object).await.unwrap_err();
    assert_eq!(err.operation, "put object");
    assert_eq!(err.target, "k/bad.pdf");
    assert_eq!(b.objects.head("k/bad.pdf").await.unwrap(), None);
}

async fn object_streamed_in_chunks_reads_back_identical(b: Backend) {
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        bytes.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let object = PutObject {
        key: "s/big.zip".into(),
        body: ObjectBody::Stream {
            length: bytes.len() as u64,
            chunks: futures::stream::iter(chunks).boxed(),
            checked: false,
        },
        sha256: sha256_of(&bytes),
        content_type: "application/zip".into(),
        if_absent: true,
        metadata: Vec::new(),
    };
    assert_eq!(b.objects.put(object).await.unwrap(), Insert::Inserted);
    let back = b.objects.get("s/big.zip").await.unwrap().unwrap();
    assert_eq!(back.len(), bytes.len());
    assert!(back == bytes, "streamed object differs");
}

async fn objects_listed_by_prefix(b: Backend) {
    for key in [
        "v/0403170701/p/m2/message.json",
        "v/0403170701/p/m1/a.pdf",
        "v/0403170701/p/m1/message.json",
        "v/1000000021/p/m1/message.json",
    ] {
        b.objects.put(put(key, key.as_bytes(), false)).await.unwrap();
    }
    let listed: Vec<(String, u64)> = b
        .objects
        .list("v/0403170701/")
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.key.clone(), m.size))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("v/0403170701/p/m1/a.pdf".to_string(), 23),
            ("v/0403170701/p/m1/message.json".to_string(), 30),
            ("v/0403170701/p/m2/message.json".to_string(), 30),
        ]
    );
}

async fn secret_read_once_then_served_from_cache(b: Backend) {
    let x = b.secret_name("connections/x");
    b.secrets.set(&x, "{\"client_id\":\"v1\"}").await;
    let direct = b.secrets.store();
    let cached = CachedSecrets::new(b.secrets.store(), Duration::from_secs(3600));
    assert_eq!(cached.get(&x).await.unwrap().expose_secret(), "{\"client_id\":\"v1\"}");
    // The store changes; the cache keeps serving what it read, without asking again.
    b.secrets.set(&x, "{\"client_id\":\"v2\"}").await;
    assert_eq!(direct.get(&x).await.unwrap().expose_secret(), "{\"client_id\":\"v2\"}");
    assert_eq!(cached.get(&x).await.unwrap().expose_secret(), "{\"client_id\":\"v1\"}");
    if let Secrets::Memory(m) = &b.secrets {
        assert_eq!(m.reads(), 2, "one read through the cache, one direct");
    }
    // Invalidation (after e-Box refused a key) makes the next read fresh.
    cached.forget(&x).await;
    assert_eq!(cached.get(&x).await.unwrap().expose_secret(), "{\"client_id\":\"v2\"}");
    // A zero TTL caches nothing.
    let uncached = CachedSecrets::new(b.secrets.store(), Duration::ZERO);
    uncached.get(&x).await.unwrap();
    b.secrets.set(&x, "{\"client_id\":\"v3\"}").await;
    assert_eq!(
        uncached.get(&x).await.unwrap().expose_secret(),
        "{\"client_id\":\"v3\"}"
    );
}

async fn missing_secret_is_not_found(b: Backend) {
    let none = b.secret_name("connections/none");
    let err = b.secrets.store().get(&none).await.unwrap_err();
    assert!(matches!(&err, SecretError::NotFound { id } if *id == none), "{err:?}");
    assert!(!err.retryable());
}

async fn streamed_object_that_fails_its_checks_is_not_stored(b: Backend) {
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 256) as u8).collect();
    let stream = |data: Vec<u8>| {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            data.chunks(16 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        futures::stream::iter(chunks).boxed()
    };
    let cases = [
        // (key, body sent, length announced, checksum, expected message)
        (
            "s/digest.pdf",
            bytes.clone(),
            bytes.len() as u64,
            sha256_of(b"else"),
            "SHA-256",
        ),
        (
            "s/short.pdf",
            bytes[..200_000].to_vec(),
            bytes.len() as u64,
            sha256_of(&bytes),
            "200000 bytes",
        ),
        ("s/long.pdf", bytes.clone(), 100_000, sha256_of(&bytes), "longer than"),
    ];
    for (key, body, length, sha256, expected) in cases {
        let object = PutObject {
            key: key.into(),
            body: ObjectBody::Stream {
                length,
                chunks: stream(body),
                checked: false,
            },
            sha256,
            content_type: "application/pdf".into(),
            if_absent: false,
            metadata: Vec::new(),
        };
        let err = b.objects.put(object).await.unwrap_err();
        assert!(err.message.contains(expected), "{key}: {err}");
        assert_eq!(b.objects.head(key).await.unwrap(), None, "{key} was stored");
    }
}

async fn object_metadata_comes_back_from_head(b: Backend) {
    let mut object = put("m/a.pdf", b"content", false);
    object.metadata = vec![
        ("retrieved-at".into(), "2026-03-02T09:00:00.123Z".into()),
        ("read-before-retrieval".into(), "false".into()),
    ];
    b.objects.put(object).await.unwrap();
    let meta = b.objects.head("m/a.pdf").await.unwrap().unwrap();
    assert_eq!(meta.metadata["retrieved-at"], "2026-03-02T09:00:00.123Z");
    assert_eq!(meta.metadata["read-before-retrieval"], "false");
    b.objects.put(put("m/b.pdf", b"content", false)).await.unwrap();
    assert!(b.objects.head("m/b.pdf").await.unwrap().unwrap().metadata.is_empty());
}

async fn ledger_rows_are_the_outbox_of_their_events(b: Backend) {
    let e = entity(7);
    let row = |id: &str, pending: bool, seconds: i64| LedgerEntry {
        provider_id: "p#1".into(),
        message_id: id.into(),
        delivered_at: at(seconds),
        message_key: format!("k/{id}/message.json"),
        message_sha256: "ab".repeat(32),
        expires_at: None,
        event_pending: pending,
    };
    for (id, pending, seconds) in [("m1", true, 10), ("m2", false, 20), ("m3", true, 30)] {
        b.stores.ledger.record(&e, &row(id, pending, seconds)).await.unwrap();
    }
    // Another entity's pending row is not this one's.
    b.stores.ledger.record(&entity(8), &row("m9", true, 5)).await.unwrap();
    let ids = |rows: Vec<LedgerEntry>| rows.into_iter().map(|r| r.message_id).collect::<Vec<_>>();
    assert_eq!(ids(b.stores.ledger.pending_events(&e, 10).await.unwrap()), ["m1", "m3"]);
    assert_eq!(ids(b.stores.ledger.pending_events(&e, 1).await.unwrap()), ["m1"]);
    b.stores.ledger.event_published(&e, "p#1", "m1").await.unwrap();
    assert_eq!(ids(b.stores.ledger.pending_events(&e, 10).await.unwrap()), ["m3"]);
    // Marking a row that is gone (its message expired) is no error.
    b.stores.ledger.event_published(&e, "p#1", "gone").await.unwrap();
    let since = b.stores.ledger.delivered_since(&e, Some(at(20))).await.unwrap();
    assert_eq!(ids(since), ["m2", "m3"]);
    assert_eq!(b.stores.ledger.delivered_since(&e, None).await.unwrap().len(), 3);
    // A published row reads back as such, and a retried record of it still matches.
    let m1 = b.inspect.ledger_entry(&e, "p#1", "m1").await.unwrap().unwrap();
    assert!(!m1.event_pending);
    assert_eq!(
        b.stores.ledger.record(&e, &row("m1", true, 10)).await.unwrap(),
        Insert::Inserted
    );
}

/// A run report of `entity` as fetch stores it.
fn run_report(entity: &EntityId, outcome: Outcome, delivered: u64) -> RunReport {
    let mut r = RunReport::new("run".into(), entity.to_string(), false, at(0));
    r.outcome = outcome;
    r.delivered = delivered;
    r
}
