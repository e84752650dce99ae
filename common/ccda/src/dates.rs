//! FHIR `date`/`dateTime`/`instant` strings → HL7 TS values and UK display dates.
//!
//! Precision is kept (a year stays a year). Anything that does not match the
//! FHIR grammar gives `None`; callers then write a nullFlavor and a warning.

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The parts of a FHIR date-time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirDate<'a> {
    year: &'a str,
    month: Option<&'a str>,
    day: Option<&'a str>,
    /// `hhmmss` (seconds may be missing in sloppy input) and fraction.
    time: Option<(String, Option<&'a str>)>,
    /// `+hhmm` / `-hhmm`.
    zone: Option<String>,
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn in_range(s: &str, lo: u32, hi: u32) -> bool {
    s.parse::<u32>().is_ok_and(|v| (lo..=hi).contains(&v))
}

/// Parses a FHIR date/dateTime/instant.
pub fn parse(s: &str) -> Option<FhirDate<'_>> {
    let s = s.trim();
    let (date, rest) = match s.find('T') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let year = parts.next().filter(|y| digits(y, 4))?;
    let month = parts.next();
    let day = parts.next();
    if parts.next().is_some() {
        return None;
    }
    if let Some(m) = month
        && !(digits(m, 2) && in_range(m, 1, 12))
    {
        return None;
    }
    if let Some(d) = day
        && !(digits(d, 2) && in_range(d, 1, 31))
    {
        return None;
    }
    let (time, zone) = match rest {
        None => (None, None),
        Some(_) if day.is_none() => return None,
        Some(t) => parse_time(t)?,
    };
    Some(FhirDate {
        year,
        month,
        day,
        time,
        zone,
    })
}

type TimeParts<'a> = (Option<(String, Option<&'a str>)>, Option<String>);

fn parse_time(t: &str) -> Option<TimeParts<'_>> {
    let zpos = t.find(['Z', '+', '-']);
    let (clock, zone) = match zpos {
        Some(i) => (&t[..i], Some(&t[i..])),
        None => (t, None),
    };
    let (clock, frac) = match clock.split_once('.') {
        Some((c, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (c, Some(f)),
        Some(_) => return None,
        None => (clock, None),
    };
    let hms: Vec<&str> = clock.split(':').collect();
    let ok = hms.len() >= 2
        && hms.len() <= 3
        && hms.iter().all(|p| digits(p, 2))
        && in_range(hms[0], 0, 23)
        && in_range(hms[1], 0, 59)
        && hms.get(2).is_none_or(|s| in_range(s, 0, 60));
    if !ok {
        return None;
    }
    let zone = match zone {
        None => None,
        Some("Z") => Some("+0000".to_string()),
        Some(z) => {
            let (sign, hm) = z.split_at(1);
            let (h, m) = hm.split_once(':')?;
            if !(digits(h, 2) && digits(m, 2) && in_range(h, 0, 14) && in_range(m, 0, 59)) {
                return None;
            }
            Some(format!("{sign}{h}{m}"))
        }
    };
    Some((Some((hms.concat(), frac)), zone))
}

// === impl FhirDate ===

impl FhirDate<'_> {
    /// HL7 TS, e.g. `20190708143500+0100`.
    pub fn ts(&self) -> String {
        let mut s = String::with_capacity(24);
        s.push_str(self.year);
        s.push_str(self.month.unwrap_or(""));
        s.push_str(self.day.unwrap_or(""));
        if let Some((clock, frac)) = &self.time {
            s.push_str(clock);
            if let Some(f) = frac {
                s.push('.');
                s.push_str(&f[..f.len().min(4)]);
            }
            if let Some(z) = &self.zone {
                s.push_str(z);
            }
        }
        s
    }

    /// `08-Jul-2019`, `Jul-2019` or `2019` (the style GP systems print).
    pub fn display(&self) -> String {
        let month = self
            .month
            .and_then(|m| m.parse::<usize>().ok())
            .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
            .copied();
        match (self.day, month) {
            (Some(d), Some(m)) => format!("{d}-{m}-{}", self.year),
            (None, Some(m)) => format!("{m}-{}", self.year),
            _ => self.year.to_string(),
        }
    }
}

/// HL7 TS for a FHIR string, or `None` if malformed.
pub fn ts(s: Option<&str>) -> Option<String> {
    s.and_then(parse).map(|d| d.ts())
}

/// True when the FHIR date `s` lies wholly before the calendar day of `now`
/// (compared at the date's own precision: `2019` is before any day of 2020,
/// not before a day of 2019). Malformed dates are never "before".
pub fn before(s: Option<&str>, now: time::OffsetDateTime) -> bool {
    let Some(d) = s.and_then(parse) else {
        return false;
    };
    let day: String = d.ts().chars().take(8).collect();
    let today = format!(
        "{:04}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    );
    day.as_str() < &today[..day.len()]
}

/// Display form for narrative; malformed input is shown as given (trimmed,
/// so the clinician still sees what the GP system sent).
pub fn display(s: Option<&str>) -> String {
    match s {
        Some(s) => parse(s)
            .map(|d| d.display())
            .unwrap_or_else(|| s.trim().chars().take(40).collect()),
        None => String::new(),
    }
}

/// HL7 TS for `now`.
pub fn ts_of(t: time::OffsetDateTime) -> String {
    let off = t.offset();
    let (h, m, _) = off.as_hms();
    let sign = if off.is_negative() { '-' } else { '+' };
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        sign,
        h.unsigned_abs(),
        m.unsigned_abs()
    )
}

/// Display form for `now`: `22-Nov-2026`.
pub fn display_of(t: time::OffsetDateTime) -> String {
    format!(
        "{:02}-{}-{:04}",
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_fhir_dates() {
        assert_eq!(ts(Some("2019")), Some("2019".into()));
        assert_eq!(ts(Some("2019-07")), Some("201907".into()));
        assert_eq!(
            ts(Some("2019-07-08T14:35:00+01:00")),
            Some("20190708143500+0100".into())
        );
        assert_eq!(
            ts(Some("2021-03-26T11:15:05.483+00:00")),
            Some("20210326111505.483+0000".into())
        );
        assert_eq!(
            ts(Some("2021-03-26T11:15:05Z")),
            Some("20210326111505+0000".into())
        );
        assert_eq!(display(Some("2019-07-08T14:35:00+01:00")), "08-Jul-2019");
    }

    #[test]
    fn before_compares_at_the_dates_precision() {
        let now = time::macros::datetime!(2026-11-22 07:00:00 UTC);
        assert!(before(Some("2026-11-21"), now));
        assert!(!before(Some("2026-11-22"), now));
        assert!(!before(Some("2026-11-22T00:00:00Z"), now));
        assert!(before(Some("2025"), now));
        assert!(!before(Some("2026"), now));
        assert!(before(Some("2026-10"), now));
        assert!(!before(Some("2027-01-01"), now));
        assert!(!before(Some("garbage"), now));
        assert!(!before(None, now));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "19",
            "2019-13",
            "2019-02-32",
            "2019-07-08T25:00",
            "abcd",
            "2019-07-08T10:00:00+1:00",
            "",
        ] {
            assert_eq!(ts(Some(bad)), None, "{bad}");
        }
    }
}
