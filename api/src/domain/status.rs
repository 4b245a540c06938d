//! Closed sets stored as text. Their text appears nowhere else: the operations compare and
//! bind these values, the database's `CHECK (status IN (...))` holds the same set.

/// Declares an enum of fixed texts with its parse and its text.
macro_rules! closed_set {
    ($(#[$meta:meta])* $ty:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty {
            $($(#[$vmeta])* $variant),+
        }

        impl $ty {
            /// Every value, in spec order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The wire (and stored) text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }

            /// Parses the wire (or stored) text.
            pub fn parse(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(format!(
                        "must be one of {}",
                        Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

closed_set!(
    /// Reservation states.
    ReservationStatus {
        /// Holding units until confirmed, cancelled or expired.
        Pending => "PENDING",
        /// Sold: the units left on-hand.
        Confirmed => "CONFIRMED",
        /// Cancelled: the units were released.
        Cancelled => "CANCELLED",
        /// Ran out of time: the units were released.
        Expired => "EXPIRED",
    }
);

/// A hold's states are a reservation's: the hold moves and its PENDING lines follow.
pub type HoldStatus = ReservationStatus;

impl ReservationStatus {
    /// A status read back from storage. Both schemas' `CHECK (status IN (...))` hold the same
    /// set, so an unknown text means a broken database; the message says which text it was.
    pub fn from_stored(text: &str) -> Result<Self, String> {
        Self::parse(text).map_err(|why| format!("stored status {text:?} {why}"))
    }
}
