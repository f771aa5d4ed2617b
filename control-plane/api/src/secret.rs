//! A secret string on the wire: an auth key, a token, a password or a
//! value on the agent's socket.

use std::fmt;

use secrecy::ExposeSecret as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret as it travels in a request or an answer, over HTTP or the
/// agent's socket (`proto_ipc::Secret` is this type): a `secrecy` string,
/// so zeroed when dropped, `<redacted>` in `Debug`, and read only through
/// [`SecretString::expose`], so a use of the value is easy to find. It
/// serialises as a plain JSON string.
#[derive(Clone, Default)]
pub struct SecretString(secrecy::SecretString);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(secrecy::SecretString::from(boxed(value.into())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// `value` as the boxed string a secrecy string holds, leaving no copy
/// behind: `String::into_boxed_str` reallocates when there is spare
/// capacity (a value grown by parsing, say), and would free the old buffer
/// unwiped.
pub fn boxed(mut value: String) -> Box<str> {
    if value.len() == value.capacity() {
        return value.into_boxed_str();
    }
    let exact: Box<str> = value.as_str().into();
    zeroize::Zeroize::zeroize(&mut value);
    exact
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for SecretString {}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        SecretString::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        SecretString::new(value)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString::new)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for SecretString {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A secret: an auth key or a token. Clients keep it out of logs.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for SecretString {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_string_that_debug_never_shows() {
        let secret: SecretString = serde_json::from_str(r#""hunter2""#).unwrap();
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(serde_json::to_string(&secret).unwrap(), r#""hunter2""#);
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert!(serde_json::from_str::<SecretString>("42").is_err());
    }

    #[test]
    fn boxing_keeps_the_value_whatever_the_spare_capacity() {
        let mut grown = String::with_capacity(64);
        grown.push_str("s3cret");
        assert_eq!(&*boxed(grown), "s3cret");
        assert_eq!(&*boxed("exact".to_owned()), "exact");
        assert_eq!(SecretString::new(String::with_capacity(10)).expose(), "");
    }
}
