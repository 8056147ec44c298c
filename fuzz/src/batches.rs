//! Record-batch inputs shared by the targets that feed arbitrary bytes to the produce path.

use vltava_storage::batch::{
    BATCH_LENGTH_OFFSET, CRC_OFFSET, HEADER_BYTES, LOG_OVERHEAD_BYTES, compute_crc,
};

/// Writes the right CRC-32C into each batch that `batchLength` delimits, until one does not
/// fit, so that the fuzzer reaches the checks behind the CRC.
pub fn fix_crcs(data: &mut [u8]) {
    let mut position = 0;
    while data.len() - position >= HEADER_BYTES {
        let at = position + BATCH_LENGTH_OFFSET;
        let length = i32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        let Some(size) = usize::try_from(length)
            .ok()
            .map(|length| length + LOG_OVERHEAD_BYTES)
            .filter(|size| (HEADER_BYTES..=data.len() - position).contains(size))
        else {
            return;
        };
        let batch = &mut data[position..position + size];
        let crc = compute_crc(batch);
        batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        position += size;
    }
}
