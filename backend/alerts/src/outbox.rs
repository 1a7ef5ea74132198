//! The delivery worker: claims due deliveries with a lease, sends each once, and records the
//! result — delivered, pending again after an exponential backoff with full jitter, or
//! dead-lettered after `max_attempts` (or at once for a permanent failure).
//!
//! Exactly-once in practice: a delivery is marked delivered only by the worker still holding its
//! lease, and is claimed again only after that lease runs out (a worker that died mid-send). The
//! only duplicate left is a worker dying between the receiver's 2xx and the database write;
//! receivers can de-duplicate on the delivery id (webhook `X-Veritrail-Delivery`, e-mail
//! `Message-ID`).

use chrono::Utc;
use serde::Serialize;
use veritrail_core::alerting::ClaimedDelivery;
use veritrail_core::event::TenantId;
use veritrail_core::store::StoreError;

use crate::backoff::RetryDecision;
use crate::deliver::{DeliveryError, deliver_with};
use crate::message::AlertMessage;
use crate::service::Alerting;

/// What one worker step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retrying: usize,
    pub dead: usize,
    /// Deliveries whose lease ran out before the result was recorded (another worker owns them).
    pub lost_lease: usize,
}

/// The outcome of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    Delivered,
    Retrying,
    Dead,
    LostLease,
}

impl Alerting {
    /// Claims and sends the due deliveries of `tenant` (every tenant's when `None`) until none
    /// are due; returns what happened.
    pub async fn deliver_due(&self, tenant: Option<&TenantId>) -> Result<OutboxReport, StoreError> {
        let mut report = OutboxReport::default();
        loop {
            let now = Utc::now();
            let claimed = self
                .store
                .claim_due_deliveries(tenant, now, &self.holder, now + self.settings.lease, self.settings.claim_batch)
                .await?;
            if claimed.is_empty() {
                return Ok(report);
            }
            report.claimed += claimed.len();
            // Sent side by side: one slow channel does not hold up the others.
            let attempts =
                futures::future::join_all(claimed.into_iter().map(|claimed| self.deliver_claimed(claimed, true))).await;
            for attempt in attempts {
                match attempt? {
                    Attempt::Delivered => report.delivered += 1,
                    Attempt::Retrying => report.retrying += 1,
                    Attempt::Dead => report.dead += 1,
                    Attempt::LostLease => report.lost_lease += 1,
                }
            }
        }
    }

    /// Sends one claimed delivery and records the result. With `retry` false a failure is
    /// dead-lettered at once (channel tests).
    pub(crate) async fn deliver_claimed(&self, claimed: ClaimedDelivery, retry: bool) -> Result<Attempt, StoreError> {
        let delivery = &claimed.delivery;
        let result = self.send(&claimed).await;
        let recorded = match &result {
            Ok(receipt) => {
                tracing::info!(delivery = %delivery.id, channel = %delivery.channel_name, status = receipt.status, "alert delivered");
                self.store.mark_delivered(&delivery.id, &self.holder, Utc::now()).await?.then_some(Attempt::Delivered)
            }
            Err(error) => {
                let decision = if retry {
                    let mut jitter = self.jitter.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    self.settings.retry.after_failure(delivery.attempts, error, &mut *jitter)
                } else {
                    RetryDecision::DeadLetter { reason: error.message.clone() }
                };
                match decision {
                    RetryDecision::RetryAfter(wait) => {
                        tracing::warn!(delivery = %delivery.id, channel = %delivery.channel_name, attempts = delivery.attempts, error = %error, "alert delivery failed; will retry");
                        let next = Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
                        self.store
                            .mark_failed(&delivery.id, &self.holder, &error.to_string(), Some(next), Utc::now())
                            .await?
                            .then_some(Attempt::Retrying)
                    }
                    RetryDecision::DeadLetter { reason } => {
                        tracing::error!(delivery = %delivery.id, channel = %delivery.channel_name, attempts = delivery.attempts, %reason, "alert delivery dead-lettered");
                        self.store
                            .mark_failed(&delivery.id, &self.holder, &reason, None, Utc::now())
                            .await?
                            .then_some(Attempt::Dead)
                    }
                }
            }
        };
        Ok(recorded.unwrap_or(Attempt::LostLease))
    }

    async fn send(&self, claimed: &ClaimedDelivery) -> Result<crate::deliver::DeliveryReceipt, DeliveryError> {
        let config = self.channel_config(&claimed.channel).map_err(DeliveryError::permanent)?;
        let message: AlertMessage = serde_json::from_value(claimed.alert.message.clone())
            .map_err(|error| DeliveryError::permanent(format!("the stored alert message does not parse: {error}")))?;
        // The policy is checked again here: DNS answers change after a channel is created. So is
        // who may read which variable: a channel stored before the prefix rule gets no more.
        let access = self.env_access(&claimed.channel.channel.tenant, &claimed.channel.channel.name, &config);
        let env = |name: &str| access.read(name);
        deliver_with(&config, &message, &claimed.delivery.id, &self.settings.policy, &self.settings.delivery, &env)
            .await
    }
}
