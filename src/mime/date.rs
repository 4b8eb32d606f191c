//! RFC 5322 3.3 dates (and the obsolete forms of 4.3) as found in real
//! Date: headers, for SEARCH SENTBEFORE/SENTON/SENTSINCE.

use chrono::NaiveDate;

/// Parses a Date: header value. Returns the UTC instant (seconds since the
/// epoch) and the zone offset in minutes east of UTC. Tolerates a missing
/// weekday, 2- and 3-digit years (RFC 5322 4.3), missing seconds, obsolete
/// zone names (UT, GMT, EST... and military letters, which RFC 5322 4.3
/// says to read as +0000 since their sign was commonly inverted), comments
/// and a missing zone (taken as +0000).
pub fn parse_rfc2822(s: &str) -> Option<(i64, i32)> {
    let toks = tokens(s);
    let mut it = toks.iter().map(String::as_str).peekable();
    // Optional day-of-week.
    if let Some(t) = it.peek() {
        if t.chars().all(|c| c.is_ascii_alphabetic()) && month(t).is_none() {
            it.next();
        }
    }
    let (day, mon) = {
        let a = it.next()?;
        if let Ok(d) = a.parse::<u32>() {
            (d, month(it.next()?)?)
        } else {
            // "Jan 5 2001" (asctime-like order).
            let m = month(a)?;
            (it.next()?.parse::<u32>().ok()?, m)
        }
    };
    let ytok = it.next()?;
    let mut year: i32 = ytok.parse().ok()?;
    // RFC 5322 4.3: 2-digit years 00-49 are 2000-2049, 50-99 are 1950-1999;
    // 3-digit years add 1900.
    year = match ytok.len() {
        1 | 2 if year < 50 => year + 2000,
        1 | 2 => year + 1900,
        3 => year + 1900,
        _ => year,
    };
    let time = it.next().unwrap_or("00:00:00");
    let mut hms = time.split(':').map(|p| p.parse::<u32>().ok());
    let h = hms.next().flatten()?;
    let m = hms.next().flatten()?;
    let sec = match hms.next() {
        None => 0,
        Some(sec) => sec?,
    };
    if hms.next().is_some() {
        return None;
    }
    let zone = it.next().map(zone).unwrap_or(Some(0))?;
    let date = NaiveDate::from_ymd_opt(year, mon, day)?;
    let t = date.and_hms_opt(h, m, sec.min(59))?;
    Some((t.and_utc().timestamp() - i64::from(zone) * 60, zone))
}

/// Words of the value: comments dropped, split at white space and commas.
/// "12:00:00+0100" stays one word, which is no time: RFC 5322 3.3 puts
/// folding white space before the zone, and RFC 5256 sorts a date that
/// cannot be parsed by the internal date (as Dovecot does).
fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            c if c.is_whitespace() || c == ',' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    // "5-Jan-2001" style.
    if out.len() <= 3 {
        if let Some(first) = out.first().cloned() {
            let parts: Vec<&str> = first.split('-').collect();
            if parts.len() == 3 && parts.iter().all(|p| !p.is_empty()) {
                let mut v: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
                v.extend(out.into_iter().skip(1));
                return v;
            }
        }
    }
    out
}

fn month(t: &str) -> Option<u32> {
    const M: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let t = t.get(..3)?.to_ascii_lowercase();
    M.iter().position(|m| *m == t).map(|i| i as u32 + 1)
}

/// Zone in minutes east of UTC.
fn zone(t: &str) -> Option<i32> {
    if let Some(sign) = t.chars().next().filter(|c| *c == '+' || *c == '-') {
        let digits = t.get(1..)?;
        if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Some(0);
        }
        let n: i32 = digits.parse().ok()?;
        let mins = (n / 100) * 60 + n % 100;
        return Some(if sign == '-' { -mins } else { mins });
    }
    let h = match t.to_ascii_uppercase().as_str() {
        "UT" | "UTC" | "GMT" | "Z" => 0,
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        // Military zones and anything unknown: +0000 (RFC 5322 4.3).
        _ => 0,
    };
    Some(h * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_world_dates() {
        // 2001-01-05 12:00:00 UTC = 978696000
        let t = 978_696_000;
        assert_eq!(
            parse_rfc2822("Fri, 05 Jan 2001 12:00:00 +0000"),
            Some((t, 0))
        );
        assert_eq!(parse_rfc2822("5 Jan 2001 13:00:00 +0100"), Some((t, 60)));
        assert_eq!(parse_rfc2822("5 Jan 2001 13:00+0100"), None);
        assert_eq!(parse_rfc2822("Fri, 5 Jan 01 07:00:00 EST"), Some((t, -300)));
        assert_eq!(parse_rfc2822("Fri, 5 Jan 101 12:00 GMT"), Some((t, 0)));
        assert_eq!(
            parse_rfc2822("Fri, 5 Jan 2001 12:00:00 UT (Universal)"),
            Some((t, 0))
        );
        assert_eq!(
            parse_rfc2822("(c) Fri , 5 Jan 2001 12:00:00 Z"),
            Some((t, 0))
        );
        assert_eq!(
            parse_rfc2822("Fri, 05 Jan 2001 04:00:00 -0800 (PST)"),
            Some((t, -480))
        );
        assert_eq!(parse_rfc2822("Fri, 5 Jan 2001 12:00:00 A"), Some((t, 0)));
        assert_eq!(
            parse_rfc2822("Friday, 5 January 2001 12:00:00"),
            Some((t, 0))
        );
        // No white space before the zone: no date (RFC 5322 3.3), so
        // SORT takes the internal date, as Dovecot does.
        assert_eq!(parse_rfc2822("Fri, 5 Jan 2001 11:00:00-0100"), None);
        assert_eq!(parse_rfc2822("5-Jan-2001 12:00:00 +0000"), Some((t, 0)));
        assert_eq!(
            parse_rfc2822("Thu, 12 Jul 1999 23:59:59 +0000").map(|d| d.0),
            Some(931_823_999)
        );
        assert_eq!(
            parse_rfc2822("Sat, 31 Dec 1949 00:00:00 +0000").map(|d| d.0),
            Some(-631_238_400)
        );
        assert_eq!(parse_rfc2822(""), None);
        assert_eq!(parse_rfc2822("garbage"), None);
        assert_eq!(parse_rfc2822("31 Feb 2001 00:00:00"), None);
        assert_eq!(parse_rfc2822("1 Jan 99999999999 00:00"), None);
        assert_eq!(parse_rfc2822("\u{e9}\u{e9}, 1 Jan 2001 99:00"), None);
    }
}
