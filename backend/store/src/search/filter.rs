//! Search filters as SQL conditions, written once for both backends.
//!
//! Case-insensitive fields are compared with values folded by [`super::fold`], the same function
//! that filled the `*_key` columns. IP addresses become fixed-width keys (32 hex digits of the
//! IPv6 address, IPv4 mapped into IPv6) that sort like the addresses, so an address or a CIDR
//! range is one `BETWEEN` on both backends.

use std::net::{IpAddr, Ipv6Addr};

use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, QueryBuilder, Type};
use veritrail_core::event::normalize_time;
use veritrail_core::search::SearchFilter;

use super::fold;

/// A [`SearchFilter`] prepared for SQL: values folded, IP entries turned into key ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(super) struct FilterPlan {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub actors: Vec<String>,
    pub actions: Vec<String>,
    pub resource_types: Vec<String>,
    pub outcome: Option<&'static str>,
    /// Inclusive `[lo, hi]` ranges of `ip_key`.
    pub ip_ranges: Vec<(String, String)>,
}

impl FilterPlan {
    /// Prepares `filter`. IP entries that are neither an address nor a CIDR range are ignored
    /// (callers validate them); when all of them are, the filter has no IP condition.
    pub fn new(filter: &SearchFilter) -> Self {
        let folded = |values: &[String]| {
            let mut out: Vec<String> = values.iter().map(|value| fold(value)).collect();
            out.sort();
            out.dedup();
            out
        };
        Self {
            since: filter.since.map(normalize_time),
            until: filter.until.map(normalize_time),
            actors: folded(&filter.actors),
            actions: folded(&filter.actions),
            resource_types: folded(&filter.resource_types),
            outcome: filter.outcome.map(|outcome| outcome.as_str()),
            ip_ranges: filter.ips.iter().filter_map(|entry| ip_range(entry)).collect(),
        }
    }

    /// Only the time range of the plan.
    pub fn time_only(&self) -> Self {
        Self { since: self.since, until: self.until, ..Self::default() }
    }

    /// Whether the plan limits time.
    pub fn has_time(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    /// Whether the plan has no condition at all.
    pub fn is_empty(&self) -> bool {
        self.since.is_none()
            && self.until.is_none()
            && self.actors.is_empty()
            && self.actions.is_empty()
            && self.resource_types.is_empty()
            && self.outcome.is_none()
            && self.ip_ranges.is_empty()
    }

    /// Appends ` AND ...` conditions on the document table aliased `alias` (rows of `tenant`) to
    /// `query`, written so the planner can answer them from the filter indexes; `time` converts a
    /// time to the backend's `occurred_at` representation.
    pub fn push_conditions<DB, T>(
        &self,
        query: &mut QueryBuilder<DB>,
        alias: &str,
        tenant: &str,
        time: impl Fn(&DateTime<Utc>) -> T,
    ) where
        DB: Database,
        T: for<'q> Encode<'q, DB> + Type<DB>,
        String: for<'q> Encode<'q, DB> + Type<DB>,
    {
        self.push_times(query, alias, "occurred_at", "occurred_at", time);
        if !self.actors.is_empty() {
            // Id or name, as a union of two index lookups: SQLite's planner does not turn an OR
            // across two columns into two index searches here and would scan the tenant instead.
            query.push(format_args!(" AND {alias}.seq IN (SELECT seq FROM search_documents WHERE tenant = "));
            query.push_bind(tenant.to_owned()).push(" AND actor_key IN ");
            push_list(query, &self.actors);
            query.push(" UNION ALL SELECT seq FROM search_documents WHERE tenant = ");
            query.push_bind(tenant.to_owned()).push(" AND actor_name_key IN ");
            push_list(query, &self.actors);
            query.push(")");
        }
        self.push_values(query, alias);
    }

    /// Like [`Self::push_conditions`], for document rows already reached through another index
    /// (a text's documents): every condition is checked on the row itself.
    pub fn push_row_conditions<DB, T>(
        &self,
        query: &mut QueryBuilder<DB>,
        alias: &str,
        time: impl Fn(&DateTime<Utc>) -> T,
    ) where
        DB: Database,
        T: for<'q> Encode<'q, DB> + Type<DB>,
        String: for<'q> Encode<'q, DB> + Type<DB>,
    {
        self.push_times(query, alias, "occurred_at", "occurred_at", time);
        self.push_actor_row(query, alias);
        self.push_values(query, alias);
    }

    /// Appends conditions on `search_text_facets` aliased `alias`: rows that some matching
    /// document could belong to (times as overlap with the facet's span).
    pub fn push_facet_conditions<DB, T>(
        &self,
        query: &mut QueryBuilder<DB>,
        alias: &str,
        time: impl Fn(&DateTime<Utc>) -> T,
    ) where
        DB: Database,
        T: for<'q> Encode<'q, DB> + Type<DB>,
        String: for<'q> Encode<'q, DB> + Type<DB>,
    {
        self.push_times(query, alias, "last_occurred", "first_occurred", time);
        self.push_actor_row(query, alias);
        self.push_values(query, alias);
    }

    /// `since` applies to column `since_column`, `until` to `until_column`.
    fn push_times<DB, T>(
        &self,
        query: &mut QueryBuilder<DB>,
        alias: &str,
        since_column: &str,
        until_column: &str,
        time: impl Fn(&DateTime<Utc>) -> T,
    ) where
        DB: Database,
        T: for<'q> Encode<'q, DB> + Type<DB>,
    {
        if let Some(since) = &self.since {
            query.push(format_args!(" AND {alias}.{since_column} >= ")).push_bind(time(since));
        }
        if let Some(until) = &self.until {
            query.push(format_args!(" AND {alias}.{until_column} < ")).push_bind(time(until));
        }
    }

    fn push_actor_row<DB>(&self, query: &mut QueryBuilder<DB>, alias: &str)
    where
        DB: Database,
        String: for<'q> Encode<'q, DB> + Type<DB>,
    {
        if !self.actors.is_empty() {
            query.push(format_args!(" AND ({alias}.actor_key IN "));
            push_list(query, &self.actors);
            query.push(format_args!(" OR {alias}.actor_name_key IN "));
            push_list(query, &self.actors);
            query.push(")");
        }
    }

    /// Conditions on the columns both tables share: action, resource type, outcome, address.
    fn push_values<DB>(&self, query: &mut QueryBuilder<DB>, alias: &str)
    where
        DB: Database,
        String: for<'q> Encode<'q, DB> + Type<DB>,
    {
        if !self.actions.is_empty() {
            query.push(format_args!(" AND {alias}.action_key IN "));
            push_list(query, &self.actions);
        }
        if !self.resource_types.is_empty() {
            query.push(format_args!(" AND {alias}.resource_type_key IN "));
            push_list(query, &self.resource_types);
        }
        if let Some(outcome) = self.outcome {
            query.push(format_args!(" AND {alias}.outcome = ")).push_bind(outcome.to_owned());
        }
        if !self.ip_ranges.is_empty() {
            query.push(" AND (");
            for (idx, (lo, hi)) in self.ip_ranges.iter().enumerate() {
                if idx > 0 {
                    query.push(" OR ");
                }
                query.push(format_args!("{alias}.ip_key BETWEEN ")).push_bind(lo.clone());
                query.push(" AND ").push_bind(hi.clone());
            }
            query.push(")");
        }
    }
}

/// Pushes `(?, ?, ...)` binding `values`.
fn push_list<DB>(query: &mut QueryBuilder<DB>, values: &[String])
where
    DB: Database,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    query.push("(");
    let mut separated = query.separated(", ");
    for value in values {
        separated.push_bind(value.clone());
    }
    query.push(")");
}

/// Returns the stored key of an event's IP address, or `None` when it is not an address.
pub(super) fn ip_key(raw: &str) -> Option<String> {
    raw.trim().parse::<IpAddr>().ok().map(|address| key_of(as_ipv6_bits(address)))
}

/// Turns an address (`192.0.2.7`, `2001:db8::1`) or CIDR range (`10.0.0.0/8`, `2001:db8::/32`)
/// into the inclusive range of keys it covers.
pub(super) fn ip_range(entry: &str) -> Option<(String, String)> {
    let entry = entry.trim();
    let (address, prefix) = match entry.split_once('/') {
        Some((address, prefix)) => (address.parse::<IpAddr>().ok()?, Some(prefix.parse::<u32>().ok()?)),
        None => (entry.parse::<IpAddr>().ok()?, None),
    };
    let bits = as_ipv6_bits(address);
    let prefix = match (address, prefix) {
        (_, None) => 128,
        (IpAddr::V4(_), Some(prefix)) if prefix <= 32 => prefix + 96,
        (IpAddr::V6(_), Some(prefix)) if prefix <= 128 => prefix,
        _ => return None,
    };
    let host_mask = u128::MAX.checked_shr(prefix).unwrap_or(0);
    Some((key_of(bits & !host_mask), key_of(bits | host_mask)))
}

fn as_ipv6_bits(address: IpAddr) -> u128 {
    let v6: Ipv6Addr = match address {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    u128::from(v6)
}

fn key_of(bits: u128) -> String {
    format!("{bits:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_like_addresses() {
        let low = ip_key("10.0.0.9").expect("v4");
        let high = ip_key("10.0.1.0").expect("v4");
        assert!(low < high);
        assert_eq!(low.len(), 32);
        assert_eq!(ip_key("::ffff:10.0.0.9"), Some(low), "IPv4-mapped IPv6 is the same address");
        assert_eq!(ip_key("not an ip"), None);
        assert_eq!(ip_key(""), None);
    }

    #[test]
    fn ranges_cover_exactly_the_cidr() {
        let (lo, hi) = ip_range("10.1.0.0/16").expect("v4 cidr");
        let inside = ip_key("10.1.255.255").expect("v4");
        let below = ip_key("10.0.255.255").expect("v4");
        let above = ip_key("10.2.0.0").expect("v4");
        assert!(lo <= inside && inside <= hi);
        assert!(below < lo && above > hi);
        let single = ip_range("192.0.2.7").expect("address");
        assert_eq!(single.0, single.1);
        let (lo, hi) = ip_range("2001:db8::/32").expect("v6 cidr");
        let inside = ip_key("2001:db8:ffff::1").expect("v6");
        let outside = ip_key("2001:db9::1").expect("v6");
        assert!(lo <= inside && inside <= hi && outside > hi);
        let all_v4 = ip_range("0.0.0.0/0").expect("all of IPv4");
        assert_eq!(all_v4, (ip_key("0.0.0.0").expect("v4"), ip_key("255.255.255.255").expect("v4")));
    }

    #[test]
    fn invalid_entries_are_ignored() {
        assert_eq!(ip_range("10.0.0.0/33"), None);
        assert_eq!(ip_range("2001:db8::/129"), None);
        assert_eq!(ip_range("10.0.0.0/x"), None);
        assert_eq!(ip_range("example.com"), None);
        let filter = SearchFilter { ips: vec!["nonsense".into()], ..SearchFilter::default() };
        assert!(FilterPlan::new(&filter).is_empty(), "an IP filter of invalid entries is no filter");
    }
}
