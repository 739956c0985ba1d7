use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Duration, Utc};

use super::store_error;
use crate::EntityId;
use crate::ports::*;
use crate::schema::*;

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_time(item: &Item, name: &str) -> Option<DateTime<Utc>> {
    get_s(item, name)
        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn malformed(operation: &'static str, target: &str, field: &str) -> StoreError {
    StoreError::new(
        operation,
        target,
        format!("stored item has a missing or malformed {field:?}"),
    )
}

// ---------------------------------------------------------------------------------------

/// Connections in DynamoDB, one item per entity.
#[derive(Clone, Debug)]
pub struct DynamoConnections {
    client: Client,
    table: String,
}

impl DynamoConnections {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn connection_item(c: &Connection) -> Item {
    let mut item = Item::from([
        (CONNECTIONS_PARTITION_KEY.to_owned(), s(c.entity_id.as_str())),
        ("name".to_owned(), s(&c.name)),
        ("enabled".to_owned(), AttributeValue::Bool(c.enabled)),
        ("verdeelbak_prefix".to_owned(), s(&c.verdeelbak_prefix)),
        ("created_at".to_owned(), s(timestamp(c.created_at))),
        ("updated_at".to_owned(), s(timestamp(c.updated_at))),
    ]);
    if let Some(scopes) = &c.scopes {
        item.insert("scopes".into(), AttributeValue::L(scopes.iter().map(s).collect()));
    }
    match &c.credentials {
        CredentialsRef::Secret { secret_id } => {
            item.insert("credentials_kind".into(), s("secret"));
            item.insert("secret_id".into(), s(secret_id));
        }
        CredentialsRef::SharedCertificate {
            client_id,
            certificate_secret_id,
        } => {
            item.insert("credentials_kind".into(), s("shared_certificate"));
            item.insert("client_id".into(), s(client_id));
            item.insert("certificate_secret_id".into(), s(certificate_secret_id));
        }
    }
    item
}

fn connection_from_item(item: &Item) -> Result<Connection, StoreError> {
    const OP: &str = "read connection";
    let raw_id = get_s(item, CONNECTIONS_PARTITION_KEY).unwrap_or_default();
    let entity_id = EntityId::parse(raw_id).map_err(|e| StoreError::new(OP, raw_id, e.to_string()))?;
    let field = |name: &str| {
        get_s(item, name)
            .map(str::to_owned)
            .ok_or_else(|| malformed(OP, raw_id, name))
    };
    let credentials = match get_s(item, "credentials_kind") {
        Some("secret") => CredentialsRef::Secret {
            secret_id: field("secret_id")?,
        },
        Some("shared_certificate") => CredentialsRef::SharedCertificate {
            client_id: field("client_id")?,
            certificate_secret_id: field("certificate_secret_id")?,
        },
        _ => return Err(malformed(OP, raw_id, "credentials_kind")),
    };
    Ok(Connection {
        name: field("name")?,
        enabled: item
            .get("enabled")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .ok_or_else(|| malformed(OP, raw_id, "enabled"))?,
        credentials,
        verdeelbak_prefix: field("verdeelbak_prefix")?,
        scopes: item
            .get("scopes")
            .and_then(|v| v.as_l().ok())
            .map(|list| list.iter().filter_map(|x| x.as_s().ok().cloned()).collect()),
        created_at: parse_time(item, "created_at").ok_or_else(|| malformed(OP, raw_id, "created_at"))?,
        updated_at: parse_time(item, "updated_at").ok_or_else(|| malformed(OP, raw_id, "updated_at"))?,
        entity_id,
    })
}

#[async_trait]
impl ConnectionReader for DynamoConnections {
    async fn get(&self, entity: &EntityId) -> Result<Option<Connection>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(CONNECTIONS_PARTITION_KEY, s(entity.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("read connection", entity.as_str(), e))?;
        out.item.as_ref().map(connection_from_item).transpose()
    }

    async fn page(&self, from: Option<String>, limit: usize) -> Result<Page<Connection>, StoreError> {
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(from.map(|f| Item::from([(CONNECTIONS_PARTITION_KEY.to_owned(), s(f))])))
            .send()
            .await
            .map_err(|e| store_error("list connections", &self.table, e))?;
        let items = out
            .items()
            .iter()
            .map(connection_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next = out
            .last_evaluated_key
            .as_ref()
            .and_then(|k| get_s(k, CONNECTIONS_PARTITION_KEY))
            .map(str::to_owned);
        Ok(Page { items, next })
    }
}

#[async_trait]
impl ConnectionAdmin for DynamoConnections {
    async fn insert(&self, connection: &Connection) -> Result<Insert, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(connection_item(connection)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", CONNECTIONS_PARTITION_KEY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Insert::Inserted),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Insert::AlreadyExists)
            }
            Err(e) => Err(store_error("add connection", connection.entity_id.as_str(), e)),
        }
    }

    async fn put(&self, connection: &Connection) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(connection_item(connection)))
            .send()
            .await
            .map_err(|e| store_error("write connection", connection.entity_id.as_str(), e))?;
        Ok(())
    }

    async fn set_enabled(&self, entity: &EntityId, enabled: bool, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(CONNECTIONS_PARTITION_KEY, s(entity.as_str()))
            .update_expression("SET enabled = :enabled, updated_at = :now")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", CONNECTIONS_PARTITION_KEY)
            .expression_attribute_values(":enabled", AttributeValue::Bool(enabled))
            .expression_attribute_values(":now", s(timestamp(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(store_error("enable/disable connection", entity.as_str(), e)),
        }
    }

    async fn remove(&self, entity: &EntityId) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(CONNECTIONS_PARTITION_KEY, s(entity.as_str()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| store_error("remove connection", entity.as_str(), e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}

// ---------------------------------------------------------------------------------------

/// The state table: lease, cursors, ledger and last run of every entity.
#[derive(Clone, Debug)]
pub struct DynamoState {
    client: Client,
    table: String,
}

impl DynamoState {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get_item(
        &self,
        entity: &EntityId,
        sort_key: String,
        operation: &'static str,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(STATE_PARTITION_KEY, s(entity_partition(entity)))
            .key(STATE_SORT_KEY, s(sort_key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(operation, entity.as_str(), e))?;
        Ok(out.item)
    }
}

/// How long DynamoDB keeps a row after the thing it describes is over.
const LEASE_RETENTION: Duration = Duration::days(1);
const LEDGER_RETENTION: Duration = Duration::days(30);

#[async_trait]
impl LeaseStore for DynamoState {
    async fn acquire(
        &self,
        entity: &EntityId,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<LeaseOutcome, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(STATE_PARTITION_KEY, s(entity_partition(entity)))
            .item(STATE_SORT_KEY, s(LEASE_SORT_KEY))
            .item("holder", s(holder))
            .item("lease_until_ms", n(until.timestamp_millis()))
            .item("lease_until", s(timestamp(until)))
            .item(STATE_TTL_ATTRIBUTE, n((until + LEASE_RETENTION).timestamp()))
            // The expiry is checked here, in the write, so a run killed at its timeout
            // never blocks the entity for longer than its lease.
            .condition_expression("attribute_not_exists(#pk) OR lease_until_ms < :now OR holder = :holder")
            .expression_attribute_names("#pk", STATE_PARTITION_KEY)
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":holder", s(holder))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(LeaseOutcome::Acquired),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                    let current = match c.item() {
                        Some(item) => Some(item.clone()),
                        None => self.get_item(entity, LEASE_SORT_KEY.to_owned(), "read lease").await?,
                    };
                    let current = current.unwrap_or_default();
                    Ok(LeaseOutcome::HeldBy {
                        holder: get_s(&current, "holder").unwrap_or("unknown").to_owned(),
                        until: get_n(&current, "lease_until_ms")
                            .and_then(DateTime::from_timestamp_millis)
                            .unwrap_or(now),
                    })
                }
                _ => Err(store_error("take lease", entity.as_str(), e)),
            },
        }
    }

    async fn release(&self, entity: &EntityId, holder: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(STATE_PARTITION_KEY, s(entity_partition(entity)))
            .key(STATE_SORT_KEY, s(LEASE_SORT_KEY))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(store_error("release lease", entity.as_str(), e)),
        }
    }
}

/// A map of names to instants (milliseconds).
fn instants(item: &Item, name: &str) -> std::collections::BTreeMap<String, DateTime<Utc>> {
    item.get(name)
        .and_then(|v| v.as_m().ok())
        .into_iter()
        .flatten()
        .filter_map(|(id, at)| {
            let at = at.as_n().ok()?.parse().ok().and_then(DateTime::from_timestamp_millis)?;
            Some((id.clone(), at))
        })
        .collect()
}

fn instants_value(map: &std::collections::BTreeMap<String, DateTime<Utc>>) -> AttributeValue {
    AttributeValue::M(
        map.iter()
            .map(|(id, at)| (id.clone(), n(at.timestamp_millis())))
            .collect(),
    )
}

fn cursor_from_item(item: &Item) -> Option<Cursor> {
    let position = get_n(item, "position_ms").and_then(DateTime::from_timestamp_millis)?;
    Some(Cursor {
        position,
        recent: instants(item, "recent"),
        unreadable: instants(item, "unreadable"),
    })
}

fn lease_from_item(item: &Item) -> Option<Lease> {
    Some(Lease {
        holder: get_s(item, "holder")?.to_owned(),
        until: get_n(item, "lease_until_ms").and_then(DateTime::from_timestamp_millis)?,
    })
}

fn report_from_item(entity: &EntityId, item: &Item) -> Result<serde_json::Value, StoreError> {
    const OP: &str = "read run report";
    let raw = get_s(item, "report").ok_or_else(|| malformed(OP, entity.as_str(), "report"))?;
    serde_json::from_str(raw)
        .map_err(|e| StoreError::new(OP, entity.as_str(), format!("stored report is not JSON: {e}")))
}

#[async_trait]
impl CursorStore for DynamoState {
    async fn advance(
        &self,
        entity: &EntityId,
        provider_id: &str,
        cursor: &Cursor,
    ) -> Result<CursorOutcome, StoreError> {
        let to = cursor.position;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(STATE_PARTITION_KEY, s(entity_partition(entity)))
            .key(STATE_SORT_KEY, s(cursor_sort_key(provider_id)))
            .update_expression(
                "SET position_ms = :ms, #position = :at, provider_id = :provider, recent = :recent, unreadable = :unreadable",
            )
            .condition_expression("attribute_not_exists(position_ms) OR position_ms <= :ms")
            .expression_attribute_names("#position", "position")
            .expression_attribute_values(":ms", n(to.timestamp_millis()))
            .expression_attribute_values(":at", s(timestamp(to)))
            .expression_attribute_values(":provider", s(provider_id))
            .expression_attribute_values(":recent", instants_value(&cursor.recent))
            .expression_attribute_values(":unreadable", instants_value(&cursor.unreadable))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(CursorOutcome::Advanced),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c)) => {
                    let current = match c.item().and_then(|i| get_n(i, "position_ms")) {
                        Some(ms) => Some(ms),
                        None => self
                            .get_item(entity, cursor_sort_key(provider_id), "read cursor")
                            .await?
                            .and_then(|i| get_n(&i, "position_ms")),
                    };
                    Ok(CursorOutcome::WouldMoveBackwards {
                        current: current.and_then(DateTime::from_timestamp_millis).unwrap_or(to),
                    })
                }
                _ => Err(store_error("advance cursor", entity.as_str(), e)),
            },
        }
    }
}

#[async_trait]
impl StateInspection for DynamoState {
    async fn cursor(&self, entity: &EntityId, provider_id: &str) -> Result<Option<Cursor>, StoreError> {
        let item = self
            .get_item(entity, cursor_sort_key(provider_id), "read cursor")
            .await?;
        Ok(item.as_ref().and_then(cursor_from_item))
    }

    async fn ledger_entry(
        &self,
        entity: &EntityId,
        provider_id: &str,
        message_id: &str,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        const OP: &str = "read ledger";
        let Some(item) = self
            .get_item(entity, ledger_sort_key(provider_id, message_id), OP)
            .await?
        else {
            return Ok(None);
        };
        let field = |name: &str| {
            get_s(&item, name)
                .map(str::to_owned)
                .ok_or_else(|| malformed(OP, entity.as_str(), name))
        };
        Ok(Some(LedgerEntry {
            provider_id: field("provider_id")?,
            message_id: field("message_id")?,
            delivered_at: parse_time(&item, "delivered_at")
                .ok_or_else(|| malformed(OP, entity.as_str(), "delivered_at"))?,
            message_key: field("message_key")?,
            message_sha256: field("message_sha256")?,
            expires_at: parse_time(&item, "expires_at"),
        }))
    }
}

#[async_trait]
impl StateSnapshots for DynamoState {
    async fn snapshot(&self, entity: &EntityId) -> Result<EntityState, StoreError> {
        const OP: &str = "read entity state";
        let mut state = EntityState::default();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND #sk < :ledger")
                .expression_attribute_names("#pk", STATE_PARTITION_KEY)
                .expression_attribute_names("#sk", STATE_SORT_KEY)
                .expression_attribute_values(":pk", s(entity_partition(entity)))
                .expression_attribute_values(":ledger", s(LEDGER_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| store_error(OP, entity.as_str(), e))?;
            for item in out.items() {
                let sort_key = get_s(item, STATE_SORT_KEY).unwrap_or_default();
                if sort_key == LEASE_SORT_KEY {
                    state.lease = lease_from_item(item);
                } else if sort_key == LAST_RUN_SORT_KEY {
                    state.last_run = Some(report_from_item(entity, item)?);
                } else if let Some(escaped) = sort_key.strip_prefix(CURSOR_PREFIX) {
                    let cursor = cursor_from_item(item).ok_or_else(|| malformed(OP, entity.as_str(), "position_ms"))?;
                    state.cursors.insert(unescape(escaped), cursor);
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(state),
            }
        }
    }
}

#[async_trait]
impl Ledger for DynamoState {
    async fn record(&self, entity: &EntityId, entry: &LedgerEntry) -> Result<Insert, StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(STATE_PARTITION_KEY, s(entity_partition(entity)))
            .item(
                STATE_SORT_KEY,
                s(ledger_sort_key(&entry.provider_id, &entry.message_id)),
            )
            .item("provider_id", s(&entry.provider_id))
            .item("message_id", s(&entry.message_id))
            .item("delivered_at", s(timestamp(entry.delivered_at)))
            .item("message_key", s(&entry.message_key))
            .item("message_sha256", s(&entry.message_sha256))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", STATE_PARTITION_KEY);
        if let Some(expires_at) = entry.expires_at {
            request = request
                .item("expires_at", s(timestamp(expires_at)))
                .item(STATE_TTL_ATTRIBUTE, n((expires_at + LEDGER_RETENTION).timestamp()));
        }
        match request.send().await {
            Ok(_) => Ok(Insert::Inserted),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Insert::AlreadyExists)
            }
            Err(e) => Err(store_error("record delivery", entity.as_str(), e)),
        }
    }

    async fn delivered_among(
        &self,
        entity: &EntityId,
        provider_id: &str,
        message_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = std::collections::HashSet::new();
        let mut unique: Vec<&String> = message_ids.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|id| {
                    Item::from([
                        (STATE_PARTITION_KEY.to_owned(), s(entity_partition(entity))),
                        (STATE_SORT_KEY.to_owned(), s(ledger_sort_key(provider_id, id))),
                    ])
                })
                .collect();
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .projection_expression("message_id")
                    .build()
                    .map_err(|e| StoreError::new("read ledger", entity.as_str(), e.to_string()))?,
            );
            // Unprocessed keys (throttling) are asked again until none are left.
            for _ in 0..10 {
                let Some(keys) = request.take() else { break };
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(|e| store_error("read ledger", entity.as_str(), e))?;
                for item in out
                    .responses
                    .as_ref()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    if let Some(id) = get_s(item, "message_id") {
                        found.insert(id.to_owned());
                    }
                }
                request = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table));
            }
            if request.is_some() {
                return Err(StoreError {
                    retryable: true,
                    ..StoreError::new("read ledger", entity.as_str(), "DynamoDB kept keys unprocessed")
                });
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl RunReportStore for DynamoState {
    async fn put_last(&self, entity: &EntityId, report: &serde_json::Value) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(STATE_PARTITION_KEY, s(entity_partition(entity)))
            .item(STATE_SORT_KEY, s(LAST_RUN_SORT_KEY))
            .item("report", s(report.to_string()))
            .send()
            .await
            .map_err(|e| store_error("write run report", entity.as_str(), e))?;
        Ok(())
    }

    async fn get_last(&self, entity: &EntityId) -> Result<Option<serde_json::Value>, StoreError> {
        let item = self
            .get_item(entity, LAST_RUN_SORT_KEY.to_owned(), "read run report")
            .await?;
        item.map(|item| report_from_item(entity, &item)).transpose()
    }
}
