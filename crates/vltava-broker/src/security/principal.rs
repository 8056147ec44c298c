//! Who is on the other end of a connection, as Kafka names it: `User:ANONYMOUS` until
//! something proves otherwise, `User:<name>` after SASL, `User:<subject DN>` for a TLS client
//! certificate under `ssl.principal.mapping.rules=DEFAULT`. ACLs (a later step) are checked
//! against this.

use x509_parser::prelude::{FromDer, X509Certificate};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KafkaPrincipal {
    /// Kafka's principal type; always "User" here, as Kafka's built-in builders make.
    pub kind: &'static str,
    pub name: String,
}

impl KafkaPrincipal {
    pub fn user(name: impl Into<String>) -> KafkaPrincipal {
        KafkaPrincipal {
            kind: "User",
            name: name.into(),
        }
    }

    pub fn anonymous() -> KafkaPrincipal {
        KafkaPrincipal::user("ANONYMOUS")
    }
}

impl std::fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// The principal of a TLS client certificate (DER) under the DEFAULT mapping rule: its subject
/// DN as Java's `X500Principal.getName()` writes it (RFC 2253: the last RDN first, no spaces
/// after commas), so the names in ACLs match Kafka's. `None` if the certificate cannot be read.
pub fn from_certificate(der: &[u8]) -> Option<KafkaPrincipal> {
    let (_, certificate) = X509Certificate::from_der(der).ok()?;
    Some(KafkaPrincipal::user(rfc2253(certificate.subject())))
}

fn rfc2253(name: &x509_parser::x509::X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let oid = attribute.attr_type().to_id_string();
                    match (keyword(&oid), attribute.as_str()) {
                        (Some(keyword), Ok(value)) => format!("{keyword}={}", escape(value)),
                        // Unknown types (emailAddress...) as Java writes them: OID=#<DER hex>.
                        _ => format!("{oid}=#{}", der_hex(attribute.attr_value())),
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// The attribute keywords Java's RFC 2253 form uses; others are written as OIDs.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// RFC 2253 section 2.4: special characters, a leading '#' or space, a trailing space.
fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn der_hex(value: &x509_parser::der_parser::asn1_rs::Any<'_>) -> String {
    let data = value.data;
    let mut der = vec![value.tag().0 as u8];
    match data.len() {
        n if n < 0x80 => der.push(n as u8),
        n if n <= 0xff => der.extend([0x81, n as u8]),
        n => der.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    der.extend_from_slice(data);
    der.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_print_as_kafka_prints_them() {
        assert_eq!(KafkaPrincipal::anonymous().to_string(), "User:ANONYMOUS");
        assert_eq!(KafkaPrincipal::user("alice").to_string(), "User:alice");
    }

    /// Made with `openssl req -subj "/O=vltava/OU=tests/CN=alice"` (signed by a throwaway CA):
    /// Java prints its subject last RDN first.
    #[test]
    fn a_certificates_principal_is_its_subject_in_rfc2253_order() {
        let pem = include_bytes!("testdata/client-alice.pem");
        let der = rustls_pki_types::pem::PemObject::from_pem_slice(pem)
            .map(|c: rustls_pki_types::CertificateDer<'static>| c.to_vec())
            .unwrap_or_default();
        assert_eq!(
            from_certificate(&der).map(|p| p.to_string()).as_deref(),
            Some("User:CN=alice,OU=tests,O=vltava")
        );
        assert_eq!(from_certificate(b"not a certificate"), None);
    }

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(escape("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape("#x "), "\\#x\\ ");
        assert_eq!(escape("plain"), "plain");
    }
}
