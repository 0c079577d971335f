//! What a valid user is. Input is parsed into these types at the edge, so the code behind it never
//! sees an invalid username, password or permission list.

use platform::{ApiError, Permission, SettingsError, settings::Variable, settings::var};
use secrecy::{ExposeSecret, SecretString};

/// 3–32 of `[A-Za-z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(value: String) -> Result<Self, String> {
        let valid_chars = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !(3..=32).contains(&value.len()) || !valid_chars {
            return Err(
                "`username` must be 3 to 32 characters of A-Z, a-z, 0-9, `_`, `.` and `-`."
                    .to_owned(),
            );
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 8–128 characters (Unicode scalar values, not bytes).
pub struct Password(SecretString);

impl Password {
    pub fn parse(value: SecretString) -> Result<Self, String> {
        let length = value.expose_secret().chars().count();
        if !(8..=128).contains(&length) {
            return Err("`password` must be 8 to 128 characters.".to_owned());
        }
        Ok(Self(value))
    }

    pub fn into_secret(self) -> SecretString {
        self.0
    }

    /// A copy for hashing, for a password that must also stay available (the bootstrap admin's,
    /// hashed again on each retry).
    pub fn expose_for_hashing(&self) -> SecretString {
        self.0.clone()
    }
}

/// A non-empty set of permissions, each named once, in a stable order.
pub fn parse_permissions(mut permissions: Vec<Permission>) -> Result<Vec<Permission>, String> {
    if permissions.is_empty() {
        return Err("`permissions` must name at least one of READ, WRITE and ADMIN.".to_owned());
    }
    permissions.sort();
    permissions.dedup();
    Ok(permissions)
}

/// A user as the API accepts it.
pub struct NewUser {
    pub username: Username,
    pub password: Password,
    pub permissions: Vec<Permission>,
}

impl NewUser {
    pub fn parse(
        username: String,
        password: SecretString,
        permissions: Vec<Permission>,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            username: Username::parse(username).map_err(ApiError::BadRequest)?,
            password: Password::parse(password).map_err(ApiError::BadRequest)?,
            permissions: parse_permissions(permissions).map_err(ApiError::BadRequest)?,
        })
    }
}

/// The administrator made sure of at start: `ADMIN_USERNAME` and `ADMIN_PASSWORD`, both or none.
pub struct Admin {
    pub username: Username,
    pub password: Password,
}

impl Admin {
    pub const VARIABLES: &[Variable] = &[
        Variable {
            name: "ADMIN_USERNAME",
            default: None,
            help: "an administrator to create at start if it does not exist; unset: none",
        },
        Variable {
            name: "ADMIN_PASSWORD",
            default: None,
            help: "its password, 8 to 128 characters; never overwrites an existing one",
        },
    ];

    pub fn from_env() -> Result<Option<Self>, SettingsError> {
        match (var("ADMIN_USERNAME"), var("ADMIN_PASSWORD")) {
            (None, None) => Ok(None),
            (Some(username), Some(password)) => Ok(Some(Self {
                username: Username::parse(username)
                    .map_err(|reason| SettingsError::new("ADMIN_USERNAME", reason))?,
                password: Password::parse(SecretString::from(password))
                    .map_err(|reason| SettingsError::new("ADMIN_PASSWORD", reason))?,
            })),
            (Some(_), None) => Err(SettingsError::new(
                "ADMIN_PASSWORD",
                "is required when ADMIN_USERNAME is set",
            )),
            (None, Some(_)) => Err(SettingsError::new(
                "ADMIN_USERNAME",
                "is required when ADMIN_PASSWORD is set",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for valid in ["abc", "a.b-c_d", "ABC123", &"x".repeat(32)] {
            assert!(Username::parse(valid.to_owned()).is_ok(), "{valid}");
        }
        for invalid in [
            "",
            "ab",
            &"x".repeat(33),
            "has space",
            "émile",
            "a/b",
            "$ne",
            "a\u{0}b",
        ] {
            assert!(Username::parse(invalid.to_owned()).is_err(), "{invalid:?}");
        }
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(Password::parse(SecretString::from("1234567")).is_err());
        assert!(Password::parse(SecretString::from("12345678")).is_ok());
        assert!(Password::parse(SecretString::from("é".repeat(128))).is_ok());
        assert!(Password::parse(SecretString::from("é".repeat(129))).is_err());
    }

    #[test]
    fn permissions_are_deduplicated_and_never_empty() {
        assert!(parse_permissions(vec![]).is_err());
        assert_eq!(
            parse_permissions(vec![Permission::Write, Permission::Read, Permission::Write]),
            Ok(vec![Permission::Read, Permission::Write])
        );
    }
}
