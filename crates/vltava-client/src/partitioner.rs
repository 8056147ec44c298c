//! Kafka's default partitioner, shared by `vltava produce` and the console: murmur2 of the
//! key for a keyed record, a sticky partition for keyless ones.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Kafka's default partitioner (the Java client's `BuiltInPartitioner`, KIP-794): a keyed
/// record goes to [`partition_for_key`]; keyless records stick to one partition, chosen at
/// random for each new batch among the partitions that have a leader (among all when none
/// has). A single record produced on its own (the console's) is a new batch: a random
/// partition.
#[derive(Debug)]
pub struct Partitioner {
    count: i32,
    sticky: i32,
    random: StdRng,
}

impl Partitioner {
    /// For `count` partitions (below 1 counts as 1); `seed` drives the random choices, so a
    /// test can replay them. The first sticky partition is any of the `count`.
    pub fn new(count: i32, seed: u64) -> Partitioner {
        let count = count.max(1);
        let mut random = StdRng::seed_from_u64(seed);
        let sticky = random.random_range(0..count);
        Partitioner {
            count,
            sticky,
            random,
        }
    }

    /// [`Partitioner::new`] with a seed of its own, as a producer starts.
    pub fn with_random_seed(count: i32) -> Partitioner {
        Partitioner::new(count, rand::random())
    }

    pub fn partition(&self, key: Option<&[u8]>) -> i32 {
        match key {
            Some(key) => partition_for_key(key, self.count),
            None => self.sticky,
        }
    }

    /// A batch went out: keyless records move to a random partition among `available` (those
    /// with a leader, as the Java client chooses; out-of-range ones ignored), or among all
    /// when none is.
    pub fn new_batch(&mut self, available: &[i32]) {
        let available: Vec<i32> = available
            .iter()
            .copied()
            .filter(|p| (0..self.count).contains(p))
            .collect();
        self.sticky = if available.is_empty() {
            self.random.random_range(0..self.count)
        } else {
            available[self.random.random_range(0..available.len())]
        };
    }
}

/// The partition of a keyed record: murmur2(key), made positive, modulo the partition count
/// (as the Java client and librdkafka's murmur2_random do). `count` below 1 counts as 1.
pub fn partition_for_key(key: &[u8], count: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % count.max(1)
}

/// Kafka's `Utils.murmur2` (seed 0x9747b28c), bit for bit.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(first) = tail.first() {
        h ^= u32::from(*first);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keyless records stayed on one partition forever, or moved round robin instead of to a
    /// random partition with a leader.
    #[test]
    fn keyless_records_stick_to_a_partition_and_move_at_random_among_available_ones() {
        let mut partitioner = Partitioner::new(3, 7);
        let first = partitioner.partition(None);
        assert!((0..3).contains(&first));
        assert_eq!(partitioner.partition(None), first);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..64 {
            partitioner.new_batch(&[0, 2, 9]);
            seen.insert(partitioner.partition(None));
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![0, 2]);
        let mut all = std::collections::BTreeSet::new();
        for _ in 0..64 {
            partitioner.new_batch(&[]);
            all.insert(partitioner.partition(None));
        }
        assert_eq!(all.len(), 3);
        let keyed = partitioner.partition(Some(b"foobar"));
        assert_eq!(keyed, (-790_332_482i32 & 0x7fff_ffff) % 3);
    }

    /// The vectors of Kafka's UtilsTest.testMurmur2.
    #[test]
    fn murmur2_matches_kafka() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (data, expected) in cases {
            assert_eq!(murmur2(data), expected, "{}", String::from_utf8_lossy(data));
        }
    }
}
