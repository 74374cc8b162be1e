//! Wall-clock dates in the shapes log lines use: `02/Dec/2026:16:17:44.580` (`%t`),
//! `02/Dec/2026:16:17:44 +0000` (`%T`), `Dec  2 16:17:44` (rfc3164) and
//! `2026-12-02T16:17:44.582216+00:00` (rfc5424, iso). Local time comes from the C library
//! (`localtime_r`, which honours `TZ` and `/etc/localtime` as HAProxy does).

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Month abbreviations, as in CLF and rfc3164.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Full year.
    pub year: i32,
    /// Month, 0..=11.
    pub month: usize,
    /// Day of the month, 1..=31.
    pub day: u32,
    /// Hour.
    pub hour: u32,
    /// Minute.
    pub minute: u32,
    /// Second.
    pub second: u32,
    /// Microseconds.
    pub micros: u32,
    /// Offset from UTC in seconds.
    pub offset: i64,
}

/// Seconds and microseconds since the epoch.
fn split(t: SystemTime) -> (i64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as i64, d.subsec_micros())
}

/// `t` in local time (`utc`: in UTC).
pub fn civil(t: SystemTime, utc: bool) -> Civil {
    let (secs, micros) = split(t);
    let secs_t = secs as libc::time_t;
    // SAFETY: plain C calls on a local struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe {
        if utc {
            libc::gmtime_r(&secs_t, &mut tm);
        } else {
            libc::localtime_r(&secs_t, &mut tm);
        }
    }
    Civil {
        year: tm.tm_year + 1900,
        month: tm.tm_mon.clamp(0, 11) as usize,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
        micros,
        offset: if utc { 0 } else { tm.tm_gmtoff },
    }
}

/// Seconds since the epoch (`%Ts`).
pub fn epoch(t: SystemTime) -> i64 {
    split(t).0
}

impl Civil {
    /// `02/Dec/2026:16:17:44.580` (`%t`, `%tr`).
    pub fn write_clf_millis(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}",
            self.day,
            MONTHS[self.month],
            self.year,
            self.hour,
            self.minute,
            self.second,
            self.micros / 1000
        );
    }

    /// `02/Dec/2026:16:17:44 +0000` (`%T`, `%Tl`, `%trg`, `%trl`).
    pub fn write_clf_zone(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:02}/{}/{:04}:{:02}:{:02}:{:02} ",
            self.day, MONTHS[self.month], self.year, self.hour, self.minute, self.second
        );
        let (sign, off) = self.sign_offset();
        let _ = write!(out, "{sign}{:02}{:02}", off / 3600, off / 60 % 60);
    }

    /// `Dec  2 16:17:44` (rfc3164).
    pub fn write_rfc3164(&self, out: &mut String) {
        let _ = write!(
            out,
            "{} {:>2} {:02}:{:02}:{:02}",
            MONTHS[self.month], self.day, self.hour, self.minute, self.second
        );
    }

    /// `2026-12-02T16:17:44.582216+00:00` (rfc5424, iso, timed).
    pub fn write_iso(&self, out: &mut String) {
        let (sign, off) = self.sign_offset();
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{sign}{:02}:{:02}",
            self.year,
            self.month + 1,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.micros,
            off / 3600,
            off / 60 % 60
        );
    }

    /// The offset's sign and absolute value.
    fn sign_offset(&self) -> (char, i64) {
        if self.offset < 0 {
            ('-', -self.offset)
        } else {
            ('+', self.offset)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn shapes() {
        // 2026-12-02T16:17:44.582216Z
        let t = UNIX_EPOCH + Duration::from_micros(1_796_228_264_582_216);
        let c = civil(t, true);
        let mut s = String::new();
        c.write_clf_millis(&mut s);
        s.push('|');
        c.write_clf_zone(&mut s);
        s.push('|');
        c.write_rfc3164(&mut s);
        s.push('|');
        c.write_iso(&mut s);
        assert_eq!(
            s,
            "02/Dec/2026:16:17:44.582|02/Dec/2026:16:17:44 +0000|Dec  2 16:17:44|2026-12-02T16:17:44.582216+00:00"
        );
        let east = Civil {
            offset: -(5 * 3600 + 30 * 60),
            ..c
        };
        let mut z = String::new();
        east.write_clf_zone(&mut z);
        assert!(z.ends_with(" -0530"), "{z}");
    }
}
