//! `notices`: the email outbox.

use sea_orm::entity::prelude::*;

use crate::types::OrgId;

snake_case_enum! {
    /// What a notice says. Every kind has its subject and bodies under `templates/email/<kind>/`, and
    /// the renderer matches on this enum, so a kind without a renderer does not compile.
    pub enum NoticeKind {
        /// A wave's first message.
        Announce,
        /// A wave's reminder.
        Remind,
        /// A wave's last reminder before its deadline.
        Final,
        /// To the org's customer-success manager: the org has not acted.
        Escalate,
        /// After a verified consent: thank you, nothing more to do.
        Confirmation,
        /// A new link a customer asked for from an expired or used link's page.
        FreshLink,
        /// A link a staff member sent (the org page, or a bulk job).
        Link,
        /// The grant died: the org must consent again.
        ReauthNeeded,
        /// The partner's egress ranges change on a date: add the new ones where the org restricts IPs.
        IpChange,
        /// Pre-flight found the package with the External Client App missing (or too old) in the
        /// org: install it first; a re-auth link could not succeed yet.
        InstallPackage,
        /// An incident's emergency wave: the partner's app or its secret was compromised, every
        /// connection was revoked (or Salesforce refused it): what happened, what the admin must
        /// do, and how to tell the link is genuine.
        Incident,
    }
}

impl NoticeKind {
    /// Every kind.
    pub const ALL: [Self; 11] = [
        Self::Announce,
        Self::Remind,
        Self::Final,
        Self::Escalate,
        Self::Confirmation,
        Self::FreshLink,
        Self::Link,
        Self::ReauthNeeded,
        Self::IpChange,
        Self::InstallPackage,
        Self::Incident,
    ];

    /// The stored spelling (also the template directory's name).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the message carries a re-auth link (minted when it is first sent).
    pub fn carries_link(self) -> bool {
        !matches!(
            self,
            Self::Escalate | Self::Confirmation | Self::InstallPackage | Self::IpChange
        )
    }

    /// Whether it is a step of a wave's schedule.
    pub fn is_wave_step(self) -> bool {
        matches!(
            self,
            Self::Announce | Self::Remind | Self::Final | Self::Escalate | Self::Incident
        )
    }

    /// Whether a consent makes it pointless (it is cancelled when the org consents).
    pub fn stops_at_consent(self) -> bool {
        self.is_wave_step() || matches!(self, Self::ReauthNeeded | Self::InstallPackage)
    }
}

snake_case_enum! {
    /// Where a notice stands.
    pub enum NoticeStatus {
        /// Waiting for its time (or a retry).
        Pending,
        /// A sender holds its lease.
        Sending,
        /// The mail server accepted it.
        Sent,
        /// The `log` transport recorded it; nobody received it.
        Logged,
        /// Given up (permanent refusal, or too many attempts).
        Failed,
        /// No longer needed (the org consented, or its notices were paused).
        Cancelled,
        /// Passed over when scheduled (joined the wave late, or no recipient).
        Skipped,
    }
}

impl NoticeStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Reads as its stored spelling in comparisons (`n.status == "sent"`).
impl PartialEq<&str> for NoticeStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<&str> for NoticeKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "notices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: OrgId,
    pub contact_id: Option<i64>,
    pub kind: NoticeKind,
    pub wave_id: Option<i64>,
    pub step: Option<String>,
    pub occurrence: i32,
    #[sea_orm(unique)]
    pub dedupe_key: String,
    pub scheduled_at: DateTimeUtc,
    pub status: NoticeStatus,
    pub attempts: i32,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub message_id: Option<String>,
    pub link_id: Option<i64>,
    #[serde(skip_serializing)]
    pub link_secret_ct: Option<Vec<u8>>,
    pub key_id: Option<String>,
    pub recipient: Option<String>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
