//! Compliance: checking what the partner ships and runs against Salesforce's 2026 partner
//! security controls (PKCE, refresh token rotation, a 30-day idle timeout, a refresh-token IP
//! allowlist, no risky flows, least-privilege scopes).
//!
//! [`metadata`] lints the Salesforce metadata of the apps themselves (External Client App
//! bundles and legacy Connected Apps in an SFDX project); it reads files only, and the registry
//! just for one count. [`report`] is the evidence from what reauth did (PKCE on every consent,
//! rotation on every refresh, idle gaps, egress, sealing at rest, staff two-factor, secret and
//! key ages, open critical alerts), as Markdown, HTML or JSON.

pub mod metadata;
pub mod report;
