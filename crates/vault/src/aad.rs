//! Associated data: what a sealed value belongs to.
//!
//! The record kind and ids are authenticated (not encrypted) with both the data key's
//! wrapping and the content, so a ciphertext copied into another row, another column or
//! another table fails to open instead of showing one client's note on another's record.

/// The record a sealed value belongs to: a kind (a stable name such as `"note.body"` or
/// `"separation.reason"`) and the record's ids, in a fixed order.
///
/// The kind, the id names, their order and their values are all part of what is
/// authenticated: changing any of them later makes existing values unreadable, so treat
/// them as a storage format. Use row ids, never names or other personal data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aad {
    kind: Box<str>,
    ids: Vec<(Box<str>, i64)>,
}

impl Aad {
    /// A kind plus named ids, e.g.
    /// `Aad::new("separation.reason", &[("client_low", 3), ("client_high", 9)])`.
    pub fn new(kind: &str, ids: &[(&str, i64)]) -> Aad {
        Aad {
            kind: kind.into(),
            ids: ids.iter().map(|&(name, id)| (name.into(), id)).collect(),
        }
    }

    /// The common case of one row id: `Aad::record("note.body", 42)` is
    /// `Aad::new("note.body", &[("id", 42)])`.
    pub fn record(kind: &str, id: i64) -> Aad {
        Aad::new(kind, &[("id", id)])
    }

    /// An unambiguous byte encoding: every string is length-prefixed, so no two different
    /// `Aad`s encode alike (`("ab", [("c", 1)])` and `("a", [("bc", 1)])` differ).
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        fn put_str(out: &mut Vec<u8>, s: &str) {
            out.extend_from_slice(&(s.len() as u64).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        put_str(out, &self.kind);
        out.extend_from_slice(&(self.ids.len() as u64).to_be_bytes());
        for (name, id) in &self.ids {
            put_str(out, name);
            out.extend_from_slice(&id.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(aad: &Aad) -> Vec<u8> {
        let mut out = Vec::new();
        aad.encode_into(&mut out);
        out
    }

    #[test]
    fn shifting_characters_between_kind_and_id_name_changes_the_encoding() {
        assert_ne!(
            encoded(&Aad::new("ab", &[("c", 1)])),
            encoded(&Aad::new("a", &[("bc", 1)]))
        );
    }

    #[test]
    fn id_order_is_part_of_the_encoding() {
        assert_ne!(
            encoded(&Aad::new("pair", &[("low", 3), ("high", 9)])),
            encoded(&Aad::new("pair", &[("high", 9), ("low", 3)]))
        );
    }

    #[test]
    fn record_is_new_with_one_id_named_id() {
        assert_eq!(
            Aad::record("note.body", 7),
            Aad::new("note.body", &[("id", 7)])
        );
    }
}
