//! Record generation: value sizes from a distribution, keys from a key space, the intended send
//! time (microseconds since the Unix epoch, big-endian) in the first 8 bytes of every value, and
//! filler text that compresses about as well as typical JSON events do.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail};

/// How big record values are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizeDist {
    Fixed(usize),
    Uniform { min: usize, max: usize },
}

impl SizeDist {
    /// `fixed` (then `fixed_size` is used) or `uniform:MIN-MAX`.
    pub fn parse(s: &str, fixed_size: usize) -> anyhow::Result<SizeDist> {
        let t = s.trim();
        if t == "fixed" {
            return Ok(SizeDist::Fixed(fixed_size));
        }
        let Some(range) = t.strip_prefix("uniform:") else {
            bail!("bad size distribution {s:?}: use `fixed` or `uniform:MIN-MAX`");
        };
        let (lo, hi) = range
            .split_once('-')
            .ok_or_else(|| anyhow!("bad size distribution {s:?}: use `uniform:MIN-MAX`"))?;
        let min: usize = lo.trim().parse().map_err(|_| anyhow!("bad MIN in {s:?}"))?;
        let max: usize = hi.trim().parse().map_err(|_| anyhow!("bad MAX in {s:?}"))?;
        if min > max {
            bail!("MIN > MAX in {s:?}");
        }
        if max > 64 * 1024 * 1024 {
            bail!("record sizes above 64 MiB are not supported");
        }
        Ok(SizeDist::Uniform { min, max })
    }

    pub fn min(&self) -> usize {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { min, .. } => min,
        }
    }

    pub fn max(&self) -> usize {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { max, .. } => max,
        }
    }

    pub fn mean(&self) -> f64 {
        (self.min() + self.max()) as f64 / 2.0
    }

    pub fn label(&self) -> String {
        match *self {
            SizeDist::Fixed(n) => format!("{n} B"),
            SizeDist::Uniform { min, max } => format!("uniform {min}-{max} B"),
        }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { min, max } => min + rng.below((max - min + 1) as u64) as usize,
        }
    }
}

/// A small, fast, deterministic generator (SplitMix64); quality is ample for picking sizes and keys.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x6a09_e667_f3bc_c908)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }
}

/// Size of the filler pool values are cut from.
const POOL_BYTES: usize = 1 << 20;

/// Builds one record after another into reused buffers.
pub struct PayloadGen {
    sizes: SizeDist,
    keys: Option<u64>,
    rng: Rng,
    pool: Vec<u8>,
    value: Vec<u8>,
    key: Vec<u8>,
}

impl PayloadGen {
    pub fn new(sizes: SizeDist, keys: Option<u64>, seed: u64) -> PayloadGen {
        let mut rng = Rng::new(seed);
        PayloadGen {
            sizes,
            keys,
            pool: filler_pool(&mut rng),
            rng,
            value: Vec::with_capacity(sizes.max()),
            key: Vec::with_capacity(24),
        }
    }

    /// The next record: (key, value), with `sent_us` stored in the value's first 8 bytes.
    pub fn next(&mut self, sent_us: u64) -> (Option<&[u8]>, &[u8]) {
        let size = self.sizes.sample(&mut self.rng).max(8);
        self.value.clear();
        self.value.extend_from_slice(&sent_us.to_be_bytes());
        let mut need = size - 8;
        while need > 0 {
            let start = self.rng.below((POOL_BYTES - 1) as u64) as usize;
            let take = need.min(POOL_BYTES - start);
            self.value
                .extend_from_slice(&self.pool[start..start + take]);
            need -= take;
        }
        let key = match self.keys {
            Some(n) => {
                let k = self.rng.below(n);
                self.key.clear();
                self.key
                    .extend_from_slice(format!("key-{k:012}").as_bytes());
                Some(&self.key[..])
            }
            None => None,
        };
        (key, &self.value[..])
    }
}

/// The intended send time stored in a value by [`PayloadGen::next`], if the value is long enough.
pub fn sent_us(value: Option<&[u8]>) -> Option<u64> {
    let v = value?;
    let head: [u8; 8] = v.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(head))
}

/// Microseconds since the Unix epoch (wall clock: comparable between processes on one machine).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// JSON-like text from a small vocabulary: compresses roughly 2-3x with lz4, like real events.
fn filler_pool(rng: &mut Rng) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "\"account\":",
        "\"amount\":",
        "\"currency\":\"CNY\"",
        "\"status\":\"settled\"",
        "\"type\":",
        "\"buy\"",
        "\"redeem\"",
        "\"top-up\"",
        "\"withdraw\"",
        "\"channel\":\"app\"",
        "\"risk\":",
        "\"score\":",
        "\"ts\":",
        "{",
        "}",
        ",",
        "\"id\":",
        "\"user\":",
        "\"branch\":",
        "true",
        "false",
    ];
    let mut pool = Vec::with_capacity(POOL_BYTES + 64);
    while pool.len() < POOL_BYTES {
        if rng.below(3) == 0 {
            pool.extend_from_slice(format!("{}", rng.below(1_000_000_000)).as_bytes());
        } else {
            let w = WORDS[rng.below(WORDS.len() as u64) as usize];
            pool.extend_from_slice(w.as_bytes());
        }
    }
    pool.truncate(POOL_BYTES);
    pool
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_distributions_when_parsing_should_accept_fixed_and_uniform() {
        assert_eq!(SizeDist::parse("fixed", 600).unwrap(), SizeDist::Fixed(600));
        assert_eq!(
            SizeDist::parse("uniform:100-1000", 600).unwrap(),
            SizeDist::Uniform {
                min: 100,
                max: 1000
            }
        );
        assert!(SizeDist::parse("uniform:9-3", 600).is_err());
        assert!(SizeDist::parse("normal:1-2", 600).is_err());
    }

    #[test]
    fn given_generator_when_building_records_should_respect_sizes_keys_and_time() {
        let mut g = PayloadGen::new(
            SizeDist::Uniform {
                min: 16,
                max: 2_000_000,
            },
            Some(10),
            1,
        );
        for i in 0..50u64 {
            let (key, value) = g.next(i * 1000);
            assert!((16..=2_000_000).contains(&value.len()));
            assert_eq!(sent_us(Some(value)), Some(i * 1000));
            let key = String::from_utf8(key.unwrap().to_vec()).unwrap();
            assert!(key.starts_with("key-00000000000"), "{key}");
        }
        assert_eq!(sent_us(Some(&[1, 2, 3])), None);
    }
}
