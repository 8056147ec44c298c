//! kcat's format strings, for `vltava consume -f` (how each record is printed) and
//! `vltava produce --format` (how each input line is split into a record's parts).
//!
//! Tokens: `%t` topic, `%p` partition, `%o` offset, `%k` key, `%s` value (`%v` too, as rpk
//! writes it), `%h` headers as `k=v,k=v`, `%T` timestamp (ms), `%K` / `%S` key / value length
//! (-1 for null), `%%` a percent sign; escapes `\n`, `\t`, `\r`, `\\`.

use anyhow::{Context, bail};
use bytes::Bytes;

use crate::batches::{Header, InRecord};

/// kcat's default: the value and a newline.
pub const DEFAULT_FORMAT: &str = "%s\\n";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    Topic,
    Partition,
    Offset,
    Key,
    Value,
    Headers,
    Timestamp,
    KeyLength,
    ValueLength,
}

/// A parsed format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format(Vec<Token>);

/// The parts of a record one input line gave; `None` where the format has no token for it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InputFields {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Option<Vec<Header>>,
    pub partition: Option<i32>,
    pub timestamp: Option<i64>,
}

/// Where the printed record came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
}

impl Format {
    pub fn parse(text: &str) -> anyhow::Result<Format> {
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            let token = match (c, chars.clone().next()) {
                ('\\', Some(e @ ('n' | 't' | 'r' | '\\'))) => {
                    chars.next();
                    literal.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        _ => '\\',
                    });
                    continue;
                }
                ('%', Some(t)) => {
                    chars.next();
                    match t {
                        '%' => {
                            literal.push('%');
                            continue;
                        }
                        't' => Token::Topic,
                        'p' => Token::Partition,
                        'o' => Token::Offset,
                        'k' => Token::Key,
                        's' | 'v' => Token::Value,
                        'h' => Token::Headers,
                        'T' => Token::Timestamp,
                        'K' => Token::KeyLength,
                        'S' => Token::ValueLength,
                        other => bail!("format {text:?}: unknown token %{other}"),
                    }
                }
                ('%', None) => bail!("format {text:?} ends in a lone %"),
                (c, _) => {
                    literal.push(c);
                    continue;
                }
            };
            if !literal.is_empty() {
                tokens.push(Token::Literal(std::mem::take(&mut literal)));
            }
            tokens.push(token);
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        Ok(Format(tokens))
    }

    /// Appends `record` as this format prints it; `null` stands for a null key or value.
    pub fn render(&self, origin: Origin<'_>, record: &InRecord, null: &[u8], out: &mut Vec<u8>) {
        let bytes_or_null = |b: &Option<Bytes>| b.as_deref().unwrap_or(null).to_vec();
        let length = |b: &Option<Bytes>| b.as_ref().map_or(-1, |b| b.len() as i64);
        for token in &self.0 {
            match token {
                Token::Literal(text) => out.extend_from_slice(text.as_bytes()),
                Token::Topic => out.extend_from_slice(origin.topic.as_bytes()),
                Token::Partition => out.extend_from_slice(origin.partition.to_string().as_bytes()),
                Token::Offset => out.extend_from_slice(record.offset.to_string().as_bytes()),
                Token::Key => out.extend_from_slice(&bytes_or_null(&record.key)),
                Token::Value => out.extend_from_slice(&bytes_or_null(&record.value)),
                Token::Headers => out.extend_from_slice(&headers_text(&record.headers)),
                Token::Timestamp => out.extend_from_slice(record.timestamp.to_string().as_bytes()),
                Token::KeyLength => {
                    out.extend_from_slice(length(&record.key).to_string().as_bytes())
                }
                Token::ValueLength => {
                    out.extend_from_slice(length(&record.value).to_string().as_bytes())
                }
            }
        }
    }

    /// Checks that this format can split input lines: only `%k %s %h %p %T` and text between
    /// them (two tokens side by side could split anywhere), no newline but a final one.
    pub fn check_input(&self) -> anyhow::Result<()> {
        let tokens = self.input_tokens();
        for (i, token) in tokens.iter().enumerate() {
            match token {
                Token::Literal(text) if text.contains('\n') => {
                    bail!("an input format reads lines: a newline can only end it")
                }
                Token::Literal(_)
                | Token::Key
                | Token::Value
                | Token::Headers
                | Token::Partition
                | Token::Timestamp => {}
                other => bail!("{other:?} is not an input token (use %k %s %h %p %T)"),
            }
            let next_is_token = !matches!(tokens.get(i + 1), None | Some(Token::Literal(_)));
            if !matches!(token, Token::Literal(_)) && next_is_token {
                bail!("an input format needs text between two tokens to split them");
            }
        }
        Ok(())
    }

    /// The tokens that split a line: the format without its final newline.
    fn input_tokens(&self) -> Vec<Token> {
        let mut tokens = self.0.clone();
        if let Some(Token::Literal(text)) = tokens.last_mut() {
            if text.ends_with('\n') {
                text.pop();
            }
            if text.is_empty() {
                tokens.pop();
            }
        }
        tokens
    }

    /// Splits one input line (without its newline) as the format says: each token takes the
    /// bytes up to the first occurrence of the text after it, the last one the rest.
    pub fn parse_input(&self, line: &[u8]) -> anyhow::Result<InputFields> {
        let tokens = self.input_tokens();
        let mut fields = InputFields::default();
        let mut rest = line;
        for (i, token) in tokens.iter().enumerate() {
            if let Token::Literal(text) = token {
                rest = rest
                    .strip_prefix(text.as_bytes())
                    .with_context(|| format!("expected {text:?}"))?;
                continue;
            }
            let taken = match tokens.get(i + 1) {
                Some(Token::Literal(next)) => {
                    let at = find(rest, next.as_bytes())
                        .with_context(|| format!("expected {next:?}"))?;
                    let (taken, after) = rest.split_at(at);
                    rest = after;
                    taken
                }
                _ => std::mem::take(&mut rest),
            };
            let text = || String::from_utf8_lossy(taken).to_string();
            match token {
                Token::Key => fields.key = Some(Bytes::copy_from_slice(taken)),
                Token::Value => fields.value = Some(Bytes::copy_from_slice(taken)),
                Token::Headers => fields.headers = Some(parse_headers(&text())?),
                Token::Partition => {
                    fields.partition = Some(text().parse().context("partition")?);
                }
                Token::Timestamp => {
                    fields.timestamp = Some(text().parse().context("timestamp")?);
                }
                _ => bail!("{token:?} is not an input token"),
            }
        }
        Ok(fields)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `k=v,k2=v2` as kcat prints headers; a header with a null value is its key alone.
fn headers_text(headers: &[Header]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (key, value)) in headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key.as_bytes());
        if let Some(value) = value {
            out.push(b'=');
            out.extend_from_slice(value);
        }
    }
    out
}

/// Headers in kcat's `k=v,k2=v2` form (`-H k=v` takes one); `k` alone has a null value.
pub fn parse_headers(text: &str) -> anyhow::Result<Vec<Header>> {
    let mut headers = Vec::new();
    for header in text.split(',').filter(|h| !h.is_empty()) {
        let (key, value) = match header.split_once('=') {
            Some((key, value)) => (key, Some(Bytes::copy_from_slice(value.as_bytes()))),
            None => (header, None),
        };
        anyhow::ensure!(!key.is_empty(), "header {header:?} has no name");
        headers.push((key.to_string(), value));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> InRecord {
        InRecord {
            offset: 7,
            timestamp: 1_700_000_000_000,
            log_append_time: false,
            key: Some(Bytes::from_static(b"k1")),
            value: None,
            headers: vec![
                ("a".to_string(), Some(Bytes::from_static(b"1"))),
                ("b".to_string(), None),
            ],
        }
    }

    #[test]
    fn every_token_and_escape_renders_as_kcat_prints_it() -> anyhow::Result<()> {
        let format = Format::parse("%t|%p|%o|%k|%s|%h|%T|%K|%S|%%\\t\\\\\\n")?;
        let mut out = Vec::new();
        let origin = Origin {
            topic: "orders",
            partition: 2,
        };
        format.render(origin, &record(), b"NULL", &mut out);
        assert_eq!(
            String::from_utf8(out)?,
            "orders|2|7|k1|NULL|a=1,b|1700000000000|2|-1|%\t\\\n"
        );
        assert!(Format::parse("%x").is_err());
        assert!(Format::parse("abc%").is_err());
        Ok(())
    }

    #[test]
    fn input_lines_split_at_the_text_between_tokens() -> anyhow::Result<()> {
        let format = Format::parse("%p;%k=%s;%h;%T\\n")?;
        format.check_input()?;
        let fields = format.parse_input(b"3;key=v=al;x=1,y;42")?;
        assert_eq!(fields.partition, Some(3));
        assert_eq!(fields.key.as_deref(), Some(&b"key"[..]));
        assert_eq!(
            fields.value.as_deref(),
            Some(&b"v=al"[..]),
            "the first = splits"
        );
        assert_eq!(fields.headers.map(|h| h.len()), Some(2));
        assert_eq!(fields.timestamp, Some(42));
        assert!(format.parse_input(b"3;no-separator").is_err());
        assert!(
            format.parse_input(b"x;k=v;;1").is_err(),
            "partition not a number"
        );
        for bad in ["%k%s", "%o %s", "%k\\n%s"] {
            assert!(Format::parse(bad)?.check_input().is_err(), "{bad}");
        }
        Ok(())
    }
}
