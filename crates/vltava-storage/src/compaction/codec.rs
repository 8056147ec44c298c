//! The record-section codecs of v2 batches (gzip, snappy, lz4, zstd), for the log cleaner,
//! which must read keys inside compressed batches and write the survivors back with the
//! codec the producer chose.
//!
//! Decompression never trusts a size read from disk: output is capped at
//! [`DECOMPRESSED_BATCH_BYTES_MAX`] and a snappy block's claimed length is checked against
//! what is left of the cap before anything is allocated. A batch that fails to decompress
//! or exceeds the cap is kept verbatim by the cleaner.

use std::io::{self, Read, Write};

/// The most bytes one batch's records may decompress to. Kafka's largest batch is
/// `max.message.bytes` (1 MiB by default) compressed; 64 MiB leaves room for very
/// compressible data while bounding what a damaged or hostile batch can make us allocate.
pub const DECOMPRESSED_BATCH_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Codec numbers of the batch attributes.
pub const NONE: u8 = 0;
pub const GZIP: u8 = 1;
pub const SNAPPY: u8 = 2;
pub const LZ4: u8 = 3;
pub const ZSTD: u8 = 4;

/// Framing of Kafka's Java client (xerial snappy-java): magic, version 1, compatible 1.
const SNAPPY_XERIAL_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
const SNAPPY_BLOCK_BYTES: usize = 32 * 1024;
const LZ4_LEVEL: u32 = 4;
const ZSTD_LEVEL: i32 = 3;

/// The records section of a batch, decompressed; `None` if it does not decompress or
/// would exceed `max_bytes`.
pub fn decompress(codec: u8, bytes: &[u8], max_bytes: usize) -> Option<Vec<u8>> {
    match codec {
        NONE => Some(bytes.to_vec()).filter(|b| b.len() <= max_bytes),
        GZIP => read_capped(flate2::read::MultiGzDecoder::new(bytes), max_bytes),
        SNAPPY => snappy_decompress(bytes, max_bytes),
        LZ4 => read_capped(lz4::Decoder::new(bytes).ok()?, max_bytes),
        ZSTD => read_capped(zstd::stream::read::Decoder::new(bytes).ok()?, max_bytes),
        _ => None,
    }
}

/// Compress a records section with `codec`, as a Kafka producer would.
pub fn compress(codec: u8, raw: &[u8]) -> io::Result<Vec<u8>> {
    match codec {
        NONE => Ok(raw.to_vec()),
        GZIP => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(raw)?;
            encoder.finish()
        }
        SNAPPY => snappy_compress(raw),
        LZ4 => {
            let mut encoder = lz4::EncoderBuilder::new()
                .level(LZ4_LEVEL)
                .block_mode(lz4::BlockMode::Independent)
                .build(Vec::new())?;
            encoder.write_all(raw)?;
            let (out, result) = encoder.finish();
            result.map(|()| out)
        }
        ZSTD => zstd::encode_all(raw, ZSTD_LEVEL),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "unknown compression codec",
        )),
    }
}

fn read_capped(reader: impl Read, max_bytes: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let limit = max_bytes as u64 + 1;
    reader.take(limit).read_to_end(&mut out).ok()?;
    (out.len() <= max_bytes).then_some(out)
}

fn snappy_decompress(bytes: &[u8], max_bytes: usize) -> Option<Vec<u8>> {
    let Some(mut rest) = bytes.strip_prefix(SNAPPY_XERIAL_HEADER) else {
        return snappy_block(bytes, Vec::new(), max_bytes);
    };
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (len, after) = rest.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        let block = after.get(..len)?;
        out = snappy_block(block, out, max_bytes)?;
        rest = &after[len..];
    }
    Some(out)
}

/// The most a snappy block can expand: its densest element, a 3-byte copy, writes 64 bytes.
/// A block claiming more than this many times its own size is malformed, and is refused before
/// the claimed length is allocated (a few bytes of a produce request must not cost megabytes).
const SNAPPY_EXPANSION_MAX: usize = 22;

/// Append the decompressed `block` to `out`, if it fits under `max_bytes`.
fn snappy_block(block: &[u8], mut out: Vec<u8>, max_bytes: usize) -> Option<Vec<u8>> {
    let len = snap::raw::decompress_len(block).ok()?;
    let possible = block.len().saturating_mul(SNAPPY_EXPANSION_MAX);
    if len > max_bytes.saturating_sub(out.len()) || len > possible {
        return None;
    }
    let start = out.len();
    out.resize(start + len, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .ok()?;
    out.truncate(start + written);
    Some(out)
}

fn snappy_compress(raw: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = SNAPPY_XERIAL_HEADER.to_vec();
    let mut encoder = snap::raw::Encoder::new();
    for chunk in raw.chunks(SNAPPY_BLOCK_BYTES) {
        let block = encoder.compress_vec(chunk).map_err(io::Error::other)?;
        out.extend_from_slice(&(block.len() as u32).to_be_bytes());
        out.extend_from_slice(&block);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_codec_round_trips_and_the_cap_holds() {
        let raw: Vec<u8> = (0..100_000u32).map(|i| (i % 7) as u8).collect();
        for codec in [NONE, GZIP, SNAPPY, LZ4, ZSTD] {
            let packed = compress(codec, &raw).unwrap();
            assert_eq!(decompress(codec, &packed, raw.len()).unwrap(), raw);
            assert_eq!(decompress(codec, &packed, raw.len() - 1), None, "{codec}");
        }
        assert_eq!(decompress(GZIP, b"not gzip", 1 << 20), None);
        assert_eq!(decompress(7, b"", 1 << 20), None);
    }

    #[test]
    fn a_snappy_block_claiming_a_huge_length_allocates_nothing() {
        // A raw snappy stream starts with its decompressed length as a varint: claim 4 GiB.
        let claim = [0x80, 0x80, 0x80, 0x80, 0x10, 0x00];
        assert_eq!(decompress(SNAPPY, &claim, 1 << 20), None);
        // The densest real snappy (a run of zeros, ~21x) passes the expansion bound.
        let zeros = vec![0u8; 1 << 20];
        let packed = compress(SNAPPY, &zeros).unwrap();
        assert_eq!(decompress(SNAPPY, &packed, 1 << 20).unwrap(), zeros);
    }
}
