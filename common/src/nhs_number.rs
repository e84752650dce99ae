//! The NHS number: ten digits whose last is a Modulus 11 check digit.
//!
//! Every path that takes an NHS number from outside (SOAP, job messages, the simulator's CLI)
//! parses it into [`NhsNumber`], so an invalid number never reaches an upstream call.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Modulus-11 valid NHS number. `Display` prints the ten digits; `Debug` hides all but the
/// last two so a stray `{:?}` in a log line does not leak a patient identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NhsNumber([u8; 10]);

/// Why a string is not an NHS number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NhsNumberError {
    #[error("an NHS number has exactly ten digits")]
    Format,
    #[error("the NHS number fails its Modulus 11 check")]
    CheckDigit,
}

// === impl NhsNumber ===

impl NhsNumber {
    /// Parses ten ASCII digits (no spaces or separators) and checks the check digit.
    pub fn parse(s: &str) -> Result<Self, NhsNumberError> {
        let bytes = s.as_bytes();
        if bytes.len() != 10 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(NhsNumberError::Format);
        }
        let mut digits = [0u8; 10];
        for (d, b) in digits.iter_mut().zip(bytes) {
            *d = b - b'0';
        }
        if check_digit(&digits[..9]) != Some(digits[9]) {
            return Err(NhsNumberError::CheckDigit);
        }
        Ok(Self(digits))
    }

    /// Finds the first run of exactly ten digits in `s` that is a valid NHS number.
    ///
    /// Used for XDS patient ids such as `'9690937278^^^&2.16.840.1.113883.2.1.4.1&ISO'`, where
    /// the number is embedded in a CX string.
    pub fn find_in(s: &str) -> Option<Self> {
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_digit() {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                if i - start == 10
                    && let Ok(n) = Self::parse(&s[start..i])
                {
                    return Some(n);
                }
            } else {
                i += 1;
            }
        }
        None
    }

    /// Builds a valid number from a nine-digit stem, or `None` when the stem has no check digit
    /// (check value 10). The simulator uses this to mint synthetic patients.
    pub fn from_stem(stem: u32) -> Option<Self> {
        if stem >= 1_000_000_000 {
            return None;
        }
        let mut digits = [0u8; 10];
        let mut n = stem;
        for d in digits[..9].iter_mut().rev() {
            *d = (n % 10) as u8;
            n /= 10;
        }
        digits[9] = check_digit(&digits[..9])?;
        Some(Self(digits))
    }

    /// The ten digits as a `String`.
    pub fn as_string(&self) -> String {
        self.to_string()
    }
}

/// Modulus 11: weights 10..2 over the first nine digits; 11 → 0, 10 → no valid number.
fn check_digit(first9: &[u8]) -> Option<u8> {
    let sum: u32 = first9
        .iter()
        .zip((2..=10u32).rev())
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    match 11 - (sum % 11) {
        11 => Some(0),
        10 => None,
        c => Some(c as u8),
    }
}

impl fmt::Display for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.0 {
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NhsNumber(********{}{})", self.0[8], self.0[9])
    }
}

impl FromStr for NhsNumber {
    type Err = NhsNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for NhsNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NhsNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        assert!(NhsNumber::parse("9000000009").is_ok());
        assert_eq!(
            NhsNumber::parse("9000000000"),
            Err(NhsNumberError::CheckDigit)
        );
        assert_eq!(
            NhsNumber::parse("1234567890"),
            Err(NhsNumberError::CheckDigit)
        );
        assert_eq!(NhsNumber::parse("969093727"), Err(NhsNumberError::Format));
        assert_eq!(NhsNumber::parse("96909372 8"), Err(NhsNumberError::Format));
        assert!(NhsNumber::parse("9690937278").is_ok());
    }

    #[test]
    fn finds_number_in_cx() {
        let n = NhsNumber::find_in("'9690937278^^^&2.16.840.1.113883.2.1.4.1&ISO'");
        assert_eq!(n.map(|n| n.to_string()).as_deref(), Some("9690937278"));
        assert_eq!(NhsNumber::find_in("12345678901234"), None);
    }

    #[test]
    fn stems_round_trip() {
        let n = NhsNumber::from_stem(969093727).expect("valid stem");
        assert_eq!(n.to_string(), "9690937278");
        assert!(!format!("{n:?}").contains("96909372"));
    }
}
