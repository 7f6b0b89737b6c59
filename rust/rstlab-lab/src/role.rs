//! The parts hosts and packets play in a run.

use std::fmt;
use std::str::FromStr;

/// Who a host, socket, fault or packet belongs to in a run. The strings (`"client"`, …) are the
/// names users and outputs see; inside Rust only the enum travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The connecting side (the originator of the scenario's connections).
    Client,
    /// The listening side.
    Server,
    /// The host between them in a routed topology (forwards; may reject as a middlebox).
    Router,
    /// Whoever puts forged segments on the wire (the router's namespace, with a raw socket):
    /// the sender the forged scenarios attribute their non-stack RSTs to.
    Forger,
}

impl Role {
    /// Every role, in the order error messages list them.
    pub const ALL: [Role; 4] = [Role::Client, Role::Server, Role::Router, Role::Forger];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
            Role::Router => "router",
            Role::Forger => "forger",
        }
    }

    /// The name shown for an optional role: an address no host of the run owns is "unknown".
    pub fn name_or_unknown(role: Option<Role>) -> &'static str {
        role.map_or("unknown", Role::as_str)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A role name that is none of [`Role::ALL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownRole(pub String);

impl fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let valid: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        write!(f, "`{}` is not a role (the roles are {})", self.0, valid.join(", "))
    }
}

impl std::error::Error for UnknownRole {}

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| UnknownRole(s.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
            assert_eq!(r.to_string(), r.as_str());
        }
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let e = "cleint".parse::<Role>().unwrap_err();
        assert_eq!(e.to_string(), "`cleint` is not a role (the roles are client, server, router, forger)");
        assert_eq!(Role::name_or_unknown(None), "unknown");
        assert_eq!(format!("{:<7}|", Role::Server), "server |");
    }
}
