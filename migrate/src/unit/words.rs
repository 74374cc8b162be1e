//! Splitting a unit setting into words: whitespace separates, single and double quotes group,
//! and C-style escapes (`\n`, `\t`, `\xHH`, `\NNN`, `\uXXXX`, `\s`, ...) are decoded, as
//! systemd does for `Environment=` and the `Exec*=` lines.

/// Splits `value` into words. An unterminated quote or a trailing backslash is an error.
pub fn split(value: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            if quote.is_none() && c.is_whitespace() {
                break;
            }
            chars.next();
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => word.push(unescape(&mut chars)?),
                (_, c) => word.push(c),
            }
        }
        if let Some(q) = quote {
            return Err(format!("unterminated {q} quote in '{value}'"));
        }
        words.push(word);
    }
}

/// Decodes the escape after a backslash.
fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, String> {
    let c = chars.next().ok_or("trailing backslash")?;
    let digits = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize, radix: u32| {
        let mut v = 0u32;
        for _ in 0..n {
            let d = chars
                .next()
                .and_then(|c| c.to_digit(radix))
                .ok_or_else(|| format!("bad escape \\{c}"))?;
            v = v * radix + d;
        }
        char::from_u32(v).ok_or_else(|| format!("bad escape \\{c}"))
    };
    Ok(match c {
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        's' => ' ',
        'x' => digits(chars, 2, 16)?,
        'u' => digits(chars, 4, 16)?,
        'U' => digits(chars, 8, 16)?,
        '0'..='7' => {
            let first = c.to_digit(8).unwrap_or(0);
            let rest = digits(chars, 2, 8)? as u32;
            char::from_u32(first * 64 + rest).ok_or("bad octal escape")?
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(
            split(r#""CONFIG=/etc/h a.cfg" PIDFILE=/run/x.pid 'A=b c' B="x\"y" C=\x41\101\s!"#)
                .unwrap(),
            vec![
                "CONFIG=/etc/h a.cfg",
                "PIDFILE=/run/x.pid",
                "A=b c",
                "B=x\"y",
                "C=AA !"
            ]
        );
        assert!(split("\"open").is_err());
        assert!(split("x\\").is_err());
        assert_eq!(split("  ").unwrap(), Vec::<String>::new());
    }
}
