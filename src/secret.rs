//! A string that must never be printed: client secrets, passwords, assertions, refresh tokens,
//! access tokens and embed tokens all live in [`Secret`].

use std::fmt;
use std::sync::Arc;

/// A secret string.
///
/// `Debug` prints `Secret([redacted])`; there is deliberately no `Display`, no `Serialize` and no
/// `Deref<Target = str>`, so the only way to read the value is the explicit
/// [`expose_secret`](Secret::expose_secret), which is easy to find in a review.
///
/// Cloning is a reference-count increment: a cache hit hands out the same allocation.
///
/// ```
/// use powerbi_embed::Secret;
/// let secret = Secret::new("p@ssw0rd");
/// assert_eq!(format!("{secret:?}"), "Secret([redacted])");
/// assert_eq!(secret.expose_secret(), "p@ssw0rd");
/// ```
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Arc::from(value.into()))
    }

    /// The secret value. Call this only where the value leaves the process (a request body or
    /// header), never to log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty (empty secrets are rejected by the credential constructors).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

/// Equality runs in constant time, so comparing a presented secret with a stored one does not
/// leak its prefix through timing (the built-in fake compares client secrets this way).
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        // Lengths are not hidden; contents are compared without an early exit.
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Eq for Secret {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_value_is_reachable_only_explicitly() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(format!("{:#?}", Some(secret.clone())), "Some(\n    Secret([redacted]),\n)");
        assert_eq!(secret.expose_secret(), "hunter2");
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(Secret::new("a"), Secret::from("a"));
        assert_ne!(Secret::new("a"), Secret::from("ab".to_string()));
    }
}
