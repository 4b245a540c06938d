//! Numbers with a range: quantities, adjustments and reservation TTLs. Each range is defined
//! once, here; the HTTP edge carries it into the spec (`minimum`/`maximum`) and its messages.

/// Largest quantity a stock row or a request may hold.
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// Declares the methods of an `i64`-backed type with an inclusive range `MIN..=MAX`.
macro_rules! ranged {
    ($ty:ident) => {
        impl $ty {
            /// Parses a value within `MIN..=MAX`.
            pub fn parse(n: i64) -> Result<Self, String> {
                if ($ty::MIN..=$ty::MAX).contains(&n) {
                    Ok(Self(n))
                } else {
                    Err($ty::range_message())
                }
            }

            /// A value known when compiling; out of range fails the build (in a `const`).
            pub const fn new_const(n: i64) -> Self {
                assert!(n >= $ty::MIN && n <= $ty::MAX, "out of range");
                Self(n)
            }

            /// A value read back from the database, whose constraints hold the same range.
            pub fn from_stored(n: i64) -> Self {
                Self(n)
            }

            /// The value.
            pub fn get(self) -> i64 {
                self.0
            }

            /// Why a value out of range was refused (the body checker's wording too).
            pub fn range_message() -> String {
                format!("must be between {} and {}", $ty::MIN, $ty::MAX)
            }
        }
    };
}

/// Units on hand (or a threshold): 0 – 1,000,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(i64);

impl Quantity {
    /// Smallest value.
    pub const MIN: i64 = 0;
    /// Largest value.
    pub const MAX: i64 = MAX_QUANTITY;
}

ranged!(Quantity);

/// Units moved or held (a reservation, a transfer): 1 – 1,000,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PositiveQuantity(i64);

impl PositiveQuantity {
    /// Smallest value.
    pub const MIN: i64 = 1;
    /// Largest value.
    pub const MAX: i64 = MAX_QUANTITY;
}

ranged!(PositiveQuantity);

/// Units added (positive) or removed (negative): −1,000,000,000 – 1,000,000,000; 0 changes
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Adjustment(i64);

impl Adjustment {
    /// Smallest value.
    pub const MIN: i64 = -MAX_QUANTITY;
    /// Largest value.
    pub const MAX: i64 = MAX_QUANTITY;
}

ranged!(Adjustment);

/// Seconds a reservation holds its units: 1 – 86,400 (a day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TtlSeconds(i64);

impl TtlSeconds {
    /// Smallest value.
    pub const MIN: i64 = 1;
    /// Largest value.
    pub const MAX: i64 = 86_400;

    /// The TTL as a duration.
    pub fn duration(self) -> chrono::Duration {
        chrono::Duration::seconds(self.0)
    }
}

ranged!(TtlSeconds);
