//! Identifiers: the UUIDs the server mints for products, reservations and holds, and the
//! client-chosen store ids and SKUs.

/// Why an id was refused.
pub const UUID_MESSAGE: &str = "must be a UUID such as 01936f0e-8a4b-7c3d-9e2f-1a2b3c4d5e6f";
const UUID_EXAMPLE: &str = "01936f0e-8a4b-7c3d-9e2f-1a2b3c4d5e6f";

/// Parses a hyphenated UUID into the lower-case text the server stores. Other spellings
/// `uuid` would take (braces, `urn:uuid:`, no hyphens) are refused, as the spec's pattern says.
pub fn parse_uuid(text: &str) -> Result<String, &'static str> {
    if text.len() != 36 {
        return Err(UUID_MESSAGE);
    }
    uuid::Uuid::try_parse(text)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| UUID_MESSAGE)
}

/// The methods every text-backed id shares.
macro_rules! text_id {
    ($ty:ident) => {
        impl $ty {
            /// A value read back from the database, where only parsed or minted values are
            /// written.
            pub fn from_stored(text: String) -> Self {
                Self(text)
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text, owned.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// Declares a UUID-backed id type.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $ty:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $ty(String);

        impl $ty {
            /// Parses a hyphenated UUID (any case; kept in lower case).
            pub fn parse(text: &str) -> Result<Self, &'static str> {
                parse_uuid(text).map(Self)
            }

            /// A new id: a UUIDv7, so ids sort by creation.
            pub fn mint() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// The spec's example id.
            pub fn example() -> Self {
                Self(UUID_EXAMPLE.to_owned())
            }
        }

        text_id!($ty);
    };
}

uuid_id!(
    /// A product id: the UUIDv7 the server gave the product.
    ProductId
);

uuid_id!(
    /// A reservation id: the UUIDv7 the server gave the reservation.
    ReservationId
);

uuid_id!(
    /// A hold id: the UUIDv7 the server gave the hold.
    HoldId
);

/// Why a store id was refused (the same text in a body, path or query).
pub const STORE_ID_MESSAGE: &str = "must be 1–64 characters of A-Z, a-z, 0-9, '.', '_' or '-'";

/// A store id: 1–64 of `[A-Za-z0-9._-]`, e.g. `MAD-001`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoreId(String);

impl StoreId {
    /// Parses a store id.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let ok = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(STORE_ID_MESSAGE)
        }
    }

    /// `MAD-001`, the spec's example.
    pub fn example() -> Self {
        Self("MAD-001".to_owned())
    }
}

text_id!(StoreId);

/// Whether `text` is blank: only ASCII whitespace (the HTTP edge's `NOT_BLANK_PATTERN` says
/// why ASCII only).
pub fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'))
}

/// A stock-keeping unit: 1–64 characters, not blank, e.g. `TSHIRT-M-BLUE`. Unique per product.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sku(String);

impl Sku {
    /// Longest SKU, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Parses a SKU.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let chars = text.chars().count();
        if chars == 0 {
            return Err("must not be empty");
        }
        if chars > Self::MAX_CHARS {
            return Err("must be at most 64 characters");
        }
        if is_blank(text) {
            return Err("must not be blank");
        }
        Ok(Self(text.to_owned()))
    }

    /// `TSHIRT-M-BLUE`, the spec's example.
    pub fn example() -> Self {
        Self("TSHIRT-M-BLUE".to_owned())
    }
}

text_id!(Sku);
