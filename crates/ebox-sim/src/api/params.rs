//! Query parameters: paging, and the filters of `/ebox/messages` in either version.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::{ApiError, bad_request};
use crate::model::{ApiVersion, FieldNames, Message, RawItem};

pub(crate) type Query = HashMap<String, String>;

fn int_param(q: &Query, name: &str, default: usize, max: usize) -> Result<usize, ApiError> {
    match q.get(name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<usize>() {
            Ok(v) if (1..=max).contains(&v) => Ok(v),
            _ => Err(bad_request(format!("{name}={raw} must be an integer from 1 to {max}"))),
        },
    }
}

fn date_param(q: &Query, name: &str) -> Result<Option<NaiveDate>, ApiError> {
    q.get(name)
        .map(|raw| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map_err(|_| bad_request(format!("{name}={raw} must be a date (YYYY-MM-DD)")))
        })
        .transpose()
}

fn bool_param(q: &Query, name: &str) -> Result<Option<bool>, ApiError> {
    q.get(name)
        .map(|raw| match raw.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad_request(format!("{name}={raw} must be true or false"))),
        })
        .transpose()
}

/// A boolean filter by its v2 name, or (in v3) by its `is` name as well.
fn bool_filter(
    q: &Query,
    version: ApiVersion,
    name: fn(&FieldNames) -> &'static str,
) -> Result<Option<bool>, ApiError> {
    let v3 = match version {
        ApiVersion::V3 => bool_param(q, name(version.names()))?,
        ApiVersion::V2 => None,
    };
    Ok(v3.or(bool_param(q, name(ApiVersion::V2.names()))?))
}

/// The part of a list one page serves, the unfriendly way.
#[derive(Debug, Clone, Copy)]
pub(super) struct Page {
    pub skip: usize,
    pub take: usize,
}

impl Page {
    /// `page` and `pageSize` (1-based, at most 100, 25 by default). The registry serves
    /// at most `limit` items, yet starts the page where the size ASKED for puts it: a
    /// client that asks 100 and just counts pages up skips items.
    pub fn parse(q: &Query, limit: usize) -> Result<Self, ApiError> {
        let page = int_param(q, "page", 1, i32::MAX as usize)?;
        let asked = int_param(q, "pageSize", 25, 100)?;
        Ok(Self {
            skip: (page - 1).saturating_mul(asked),
            take: asked.min(limit),
        })
    }
}

/// The filters of `GET /ebox/messages`.
#[derive(Default)]
pub(crate) struct Filters<'q> {
    received_after: Option<NaiveDate>,
    received_before: Option<NaiveDate>,
    expired_after: Option<NaiveDate>,
    expired_before: Option<NaiveDate>,
    /// None lists the visible messages only: the filter has no documented default, and
    /// the harder reading is that hidden ones are left out unless asked for.
    visible: Option<bool>,
    read: Option<bool>,
    registered_mail: Option<bool>,
    message_type_id: Option<&'q str>,
    sender_organization_id: Option<&'q str>,
    sender_application_id: Option<&'q str>,
}

impl<'q> Filters<'q> {
    pub fn parse(q: &'q Query, version: ApiVersion) -> Result<Self, ApiError> {
        let text = |name: &str| q.get(name).map(String::as_str);
        Ok(Self {
            received_after: date_param(q, "receivedAfter")?,
            received_before: date_param(q, "receivedBefore")?,
            expired_after: date_param(q, "expiredAfter")?,
            expired_before: date_param(q, "expiredBefore")?,
            visible: bool_filter(q, version, |n| n.visible)?,
            read: bool_filter(q, version, |n| n.read)?,
            registered_mail: bool_filter(q, version, |n| n.registered_mail)?,
            message_type_id: text("messageTypeId"),
            sender_organization_id: text("senderOrganizationId"),
            sender_application_id: text("senderApplicationId"),
        })
    }

    /// The filters a list read in process takes: as `receivedAfter` and `visible`.
    pub fn received_and_visible(received_after: Option<NaiveDate>, visible: Option<bool>) -> Self {
        Self {
            received_after,
            visible,
            ..Self::default()
        }
    }

    /// Dates, not date-times: "after" and "before" a day exclude that day.
    fn received_admits(&self, day: NaiveDate) -> bool {
        self.received_after.is_none_or(|d| day > d) && self.received_before.is_none_or(|d| day < d)
    }

    pub fn admits(&self, m: &Message) -> bool {
        let expires = m.expiration.date_naive();
        self.received_admits(m.receipt.date_naive())
            && self.expired_after.is_none_or(|d| expires > d)
            && self.expired_before.is_none_or(|d| expires < d)
            && m.visible == self.visible.unwrap_or(true)
            && self.read.is_none_or(|v| m.read == v)
            && self.registered_mail.is_none_or(|v| m.registered_mail == v)
            && self.message_type_id.is_none_or(|v| m.message_type_id == v)
            && self
                .sender_organization_id
                .is_none_or(|v| m.sender_organization_id == v)
            && self
                .sender_application_id
                .is_none_or(|v| m.sender_application_id.as_deref() == Some(v))
    }

    /// An unreadable item is known only by its receipt time; every other filter lets it
    /// through (visibility too, whether asked or not), as the registry's own (unknown)
    /// values might.
    pub fn admits_raw(&self, r: &RawItem) -> bool {
        self.received_admits(r.received_at.date_naive())
    }
}
