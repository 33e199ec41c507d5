//! What bgpd could not use in the datastore, named so that an operator can
//! find and fix it: the resource's key, the field, and why. A problem costs
//! only what it names: the value (or the entry, or the peer) is skipped and
//! everything else applies.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Problem {
    /// The etcd key of the resource at fault.
    pub resource: String,
    /// The field at fault, as a path into the resource (`spec.peerIP`,
    /// `spec.serviceClusterIPs[1].cidr`); empty for the value as a whole.
    pub field: String,
    pub reason: String,
}

impl Problem {
    pub fn new(
        resource: impl Into<String>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            resource: resource.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.resource, self.reason)
        } else {
            write!(f, "{} {}: {}", self.resource, self.field, self.reason)
        }
    }
}

/// Parses JSON into `T`; an error names the path of the field at fault.
pub fn parse_json<T: serde::de::DeserializeOwned>(value: &[u8]) -> Result<T, (String, String)> {
    let mut deserializer = serde_json::Deserializer::from_slice(value);
    serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| (field_of(e.path()), e.into_inner().to_string()))
}

/// A path as a field name; empty for the value as a whole ("." is the
/// root, "?" a syntax error before any field).
fn field_of(path: &serde_path_to_error::Path) -> String {
    match path.to_string().as_str() {
        "." | "?" => String::new(),
        field => field.to_owned(),
    }
}

/// A list whose entries are parsed one by one: an entry that does not
/// parse is kept aside with its index and reason, and the others are used,
/// so one bad entry costs only itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entries<T> {
    pub good: Vec<T>,
    /// (index, field within the entry, reason) of each entry skipped.
    pub skipped: Vec<(usize, String, String)>,
}

impl<T> Default for Entries<T> {
    fn default() -> Self {
        Self {
            good: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

impl<T> Entries<T> {
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.good.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.good.is_empty()
    }

    /// The skipped entries as problems of `resource`, under `field`.
    pub fn problems(&self, resource: &str, field: &str) -> impl Iterator<Item = Problem> + '_ {
        let resource = resource.to_owned();
        let field = field.to_owned();
        self.skipped.iter().map(move |(index, inner, reason)| {
            let path = if inner.is_empty() {
                format!("{field}[{index}]")
            } else {
                format!("{field}[{index}].{inner}")
            };
            Problem::new(resource.clone(), path, format!("entry skipped: {reason}"))
        })
    }
}

impl<'a, T> IntoIterator for &'a Entries<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.good.iter()
    }
}

impl<T> From<Vec<T>> for Entries<T> {
    fn from(good: Vec<T>) -> Self {
        Self {
            good,
            skipped: Vec::new(),
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> serde::Deserialize<'de> for Entries<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // null is an empty list, as Go writes a nil slice.
        let values: Option<Vec<serde_json::Value>> = Option::deserialize(deserializer)?;
        let mut entries = Self::default();
        for (index, value) in values.into_iter().flatten().enumerate() {
            match serde_path_to_error::deserialize(value) {
                Ok(entry) => entries.good.push(entry),
                Err(e) => {
                    let inner = field_of(e.path());
                    entries
                        .skipped
                        .push((index, inner, e.into_inner().to_string()));
                }
            }
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Entry {
        cidr: ipnet::IpNet,
    }

    #[test]
    fn one_bad_entry_costs_only_itself() {
        let entries: Entries<Entry> = serde_json::from_str(
            r#"[{"cidr":"10.0.0.0/8"},{"cidr":"nonsense"},{"cidr":"fd00::/64"}]"#,
        )
        .unwrap();
        assert_eq!(entries.good.len(), 2);
        let problems: Vec<_> = entries.problems("/k", "spec.list").collect();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "spec.list[1].cidr");
        assert!(
            problems[0].reason.contains("invalid IP address syntax"),
            "{}",
            problems[0]
        );
        let none: Entries<Entry> = serde_json::from_str("null").unwrap();
        assert!(none.is_empty() && none.skipped.is_empty());
    }

    #[test]
    fn a_parse_error_names_its_field() {
        let err = parse_json::<Entry>(br#"{"cidr": 5}"#).unwrap_err();
        assert_eq!(err.0, "cidr");
        let err = parse_json::<Entry>(b"{not json").unwrap_err();
        assert_eq!(err.0, "", "{err:?}");
    }
}
