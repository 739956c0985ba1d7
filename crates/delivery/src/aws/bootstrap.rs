//! Creates the tables and the bucket with exactly the schema `infra/` declares, for local
//! runs against moto. Idempotent: what exists is left as it is.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, VersioningConfiguration,
};

use super::{AwsClients, store_error};
use crate::ports::StoreError;
use crate::schema::StorageNames;
use crate::schema::*;

/// What the bootstrap did, resource by resource.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Bootstrapped {
    pub created: Vec<String>,
    pub existing: Vec<String>,
}

pub async fn ensure_resources(clients: &AwsClients, names: &StorageNames) -> Result<Bootstrapped, StoreError> {
    let mut done = Bootstrapped::default();
    ensure_tables(clients, names, &mut done).await?;
    ensure_bucket(clients, &names.verdeelbak_bucket, &mut done).await?;
    ensure_bus(clients, &names.event_bus, &mut done).await?;
    Ok(done)
}

/// The event bus delivered messages are announced on.
async fn ensure_bus(clients: &AwsClients, bus: &str, done: &mut Bootstrapped) -> Result<(), StoreError> {
    match clients.events.create_event_bus().name(bus).send().await {
        Ok(_) => done.created.push(format!("event bus {bus}")),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception()) =>
        {
            done.existing.push(format!("event bus {bus}"))
        }
        Err(e) => return Err(store_error("create event bus", bus, e)),
    }
    Ok(())
}

/// Both tables with the keys of `schema`, and the state table's TTL.
async fn ensure_tables(clients: &AwsClients, names: &StorageNames, done: &mut Bootstrapped) -> Result<(), StoreError> {
    let tables: [(&str, &[(&str, KeyType)]); 2] = [
        (&names.connections_table, &[(CONNECTIONS_PARTITION_KEY, KeyType::Hash)]),
        (
            &names.state_table,
            &[(STATE_PARTITION_KEY, KeyType::Hash), (STATE_SORT_KEY, KeyType::Range)],
        ),
    ];
    for (table, keys) in tables {
        let mut request = clients
            .dynamodb
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest);
        for (name, key_type) in keys {
            request = request
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(*name)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .expect("name and type are set"),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(*name)
                        .key_type(key_type.clone())
                        .build()
                        .expect("name and type are set"),
                );
        }
        match request.send().await {
            Ok(_) => done.created.push(format!("table {table}")),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {
                done.existing.push(format!("table {table}"))
            }
            Err(e) => return Err(store_error("create table", table, e)),
        }
    }
    clients
        .dynamodb
        .update_time_to_live()
        .table_name(&names.state_table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(STATE_TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .expect("name and flag are set"),
        )
        .send()
        .await
        .map_err(|e| store_error("enable TTL", &names.state_table, e))?;
    Ok(())
}

/// The verdeelbak bucket, versioned.
async fn ensure_bucket(clients: &AwsClients, bucket: &str, done: &mut Bootstrapped) -> Result<(), StoreError> {
    let mut create = clients.s3.create_bucket().bucket(bucket);
    if let Some(region) = clients.s3.config().region().map(|r| r.as_ref().to_owned())
        && region != "us-east-1"
    {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => done.created.push(format!("bucket {bucket}")),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()) =>
        {
            done.existing.push(format!("bucket {bucket}"))
        }
        Err(e) => return Err(store_error("create bucket", bucket, e)),
    }
    clients
        .s3
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| store_error("enable versioning", bucket, e))?;
    Ok(())
}
