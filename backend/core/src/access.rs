//! Who may do what: the one check every route makes, whether the caller is a machine with an API
//! key (scopes) or a person signed in to the dashboard (a role).
//!
//! | permission | key scopes | roles |
//! | --- | --- | --- |
//! | `ingest` | `ingest` | — |
//! | `read` (events, anomalies, alerts, search status) | `read` | every role |
//! | `search` | `read` | admin, analyst |
//! | `export` (CSV, JSONL, evidence bundles) | `read` | admin, analyst, auditor |
//! | `verify`, `proofs` (verification, checkpoints, proofs, the log key) | `read` | admin, auditor |
//! | `triage` (anomaly feedback) | `triage` | admin, analyst |
//! | `admin` (channels, rules, jobs of its tenant, users, keys) | `admin` | admin |
//! | `operator` (jobs over every tenant) | `operator` | — |
//!
//! `admin` scope and the `admin` role allow everything within the tenant; `operator` reaches
//! across tenants, so no role has it and only the command line creates keys with it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::auth::Scopes;

/// One thing a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    Ingest,
    Read,
    Search,
    Export,
    Verify,
    Proofs,
    Triage,
    Admin,
    Operator,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Read => "read",
            Self::Search => "search",
            Self::Export => "export",
            Self::Verify => "verify",
            Self::Proofs => "proofs",
            Self::Triage => "triage",
            Self::Admin => "admin",
            Self::Operator => "operator",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Scopes {
    /// Whether a key with these scopes has `permission`.
    pub fn permits(&self, permission: Permission) -> bool {
        match permission {
            Permission::Ingest => self.allows(Scopes::INGEST),
            Permission::Admin => self.admin,
            Permission::Operator => self.operator,
            Permission::Triage => self.allows(Scopes::TRIAGE),
            Permission::Read | Permission::Search | Permission::Export | Permission::Verify | Permission::Proofs => {
                self.allows(Scopes::READ)
            }
        }
    }
}

/// A dashboard user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including users, keys, channels, rules and jobs.
    Admin,
    /// Reads, searches, triages anomalies and exports.
    Analyst,
    /// Reads, verifies, checks proofs and exports: what an auditor needs, nothing that changes.
    Auditor,
    /// Reads.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Analyst, Role::Auditor, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Analyst => "analyst",
            Self::Auditor => "auditor",
            Self::Viewer => "viewer",
        }
    }

    /// Whether a user with this role has `permission`.
    pub fn permits(self, permission: Permission) -> bool {
        use Permission as P;
        match self {
            Self::Admin => !matches!(permission, P::Ingest | P::Operator),
            Self::Analyst => matches!(permission, P::Read | P::Search | P::Triage | P::Export),
            Self::Auditor => matches!(permission, P::Read | P::Verify | P::Proofs | P::Export),
            Self::Viewer => permission == P::Read,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == raw)
            .ok_or_else(|| format!("unknown role {raw:?}: use admin, analyst, auditor or viewer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_map_onto_the_documented_permissions() {
        use Permission as P;
        let all = [P::Ingest, P::Read, P::Search, P::Export, P::Verify, P::Proofs, P::Triage, P::Admin, P::Operator];
        let allowed = |role: Role| all.into_iter().filter(|p| role.permits(*p)).collect::<Vec<_>>();
        assert_eq!(allowed(Role::Viewer), [P::Read]);
        assert_eq!(allowed(Role::Analyst), [P::Read, P::Search, P::Export, P::Triage]);
        assert_eq!(allowed(Role::Auditor), [P::Read, P::Export, P::Verify, P::Proofs]);
        assert_eq!(allowed(Role::Admin), &all[1..8]);
        assert!(!Scopes::READ.permits(P::Admin) && !Scopes::READ.permits(P::Ingest));
        // Reading never implies changing: feedback needs its own scope.
        assert!(!Scopes::READ.permits(P::Triage) && Scopes::TRIAGE.permits(P::Triage));
        assert!(!Scopes::TRIAGE.permits(P::Read) && Scopes::ADMIN.permits(P::Triage));
        assert!(Scopes::READ.permits(P::Search) && Scopes::INGEST.permits(P::Ingest));
        assert!(all.into_iter().filter(|p| *p != P::Operator).all(|p| Scopes::ADMIN.permits(p)));
        // Reaching across tenants is never implied by administering one.
        assert!(!Scopes::ADMIN.permits(P::Operator) && Scopes::OPERATOR.permits(P::Operator));
        assert!(!Scopes::OPERATOR.permits(P::Admin) && !Scopes::OPERATOR.permits(P::Read));
        assert!(!Scopes::OPERATOR.grantable_by_tenant() && Scopes::ADMIN.grantable_by_tenant());
        assert_eq!("operator".parse::<Scopes>(), Ok(Scopes::OPERATOR));
        assert_eq!(Scopes::OPERATOR.to_string(), "operator");
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
