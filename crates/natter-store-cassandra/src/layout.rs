//! Bucket arithmetic: which partition holds a seq (or a mod_seq), and how a range of seqs splits
//! over partitions. Seqs are gap-free (`1..=last_seq` all exist once committed), so a page is a
//! known seq range and the partitions it touches follow from arithmetic alone: no read ever
//! probes an empty bucket.

/// Partition bucketing of one store (the same size for `messages` and `changes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    size: i64,
}

/// A range of seqs inside one bucket, bounds included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BucketRange {
    pub bucket: i64,
    pub lo: i64,
    pub hi: i64,
}

impl BucketRange {
    pub fn len(&self) -> i64 {
        self.hi - self.lo + 1
    }
}

impl Layout {
    /// `size` must be positive (checked by the configuration).
    pub fn new(size: i64) -> Self {
        debug_assert!(size > 0);
        Self { size }
    }

    pub fn bucket(&self, seq: i64) -> i64 {
        seq.div_euclid(self.size)
    }

    /// The last seq stored in `bucket`.
    pub fn bucket_end(&self, bucket: i64) -> i64 {
        bucket
            .saturating_mul(self.size)
            .saturating_add(self.size - 1)
    }

    /// `lo..=hi` split by bucket, ascending; empty when `lo > hi`.
    pub fn split(&self, lo: i64, hi: i64) -> Vec<BucketRange> {
        let mut ranges = Vec::new();
        let mut start = lo;
        while start <= hi {
            let bucket = self.bucket(start);
            let end = self.bucket_end(bucket).min(hi);
            ranges.push(BucketRange {
                bucket,
                lo: start,
                hi: end,
            });
            if end == i64::MAX {
                break;
            }
            start = end + 1;
        }
        ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_of_a_thousand() {
        let layout = Layout::new(1_000);
        assert_eq!(
            [1, 999, 1_000, 1_001, 1_999, 2_000].map(|s| layout.bucket(s)),
            [0, 0, 1, 1, 1, 2]
        );
        assert_eq!(layout.bucket_end(0), 999);
        assert_eq!(layout.bucket_end(1), 1_999);
    }

    #[test]
    fn ranges_split_at_bucket_boundaries() {
        let layout = Layout::new(1_000);
        let r = |bucket, lo, hi| BucketRange { bucket, lo, hi };
        assert_eq!(layout.split(990, 999), vec![r(0, 990, 999)]);
        assert_eq!(
            layout.split(999, 1_001),
            vec![r(0, 999, 999), r(1, 1_000, 1_001)]
        );
        assert_eq!(
            layout.split(1, 2_500),
            vec![r(0, 1, 999), r(1, 1_000, 1_999), r(2, 2_000, 2_500)]
        );
        assert!(layout.split(5, 4).is_empty());
        assert_eq!(layout.split(7, 7), vec![r(0, 7, 7)]);
        assert_eq!(
            layout
                .split(1, 2_500)
                .iter()
                .map(BucketRange::len)
                .sum::<i64>(),
            2_500
        );

        let tiny = Layout::new(1);
        assert_eq!(tiny.split(3, 5).len(), 3);
        let huge = Layout::new(1_000);
        assert_eq!(huge.split(i64::MAX - 1, i64::MAX).len(), 1);
    }
}
