//! How the large numeric arrays of a phase (loads, series, top-k traces) are
//! serialised: as one run of little-endian bytes each, not one serde value
//! per number. The page sends a phase to its workers with bincode, which
//! writes a `Vec<f64>` number by number (in the page's size-optimised build,
//! ~200 ms for the 256-NPU preset's phase); as bytes it is one copy. Used
//! with `#[serde(with = ...)]` on the fields; a format that has no bytes
//! (JSON) gets an array of byte values, and a sequence of numbers is read
//! too.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserializer, Serializer};

/// A number type carried as little-endian bytes.
trait Le: Sized + Copy {
    const SIZE: usize;
    /// Write into `out` (`SIZE` bytes).
    fn put(self, out: &mut [u8]);
    fn get(b: &[u8]) -> Self;
}

/// [`Le`] for a number type with `to_le_bytes` / `from_le_bytes` of `$n` bytes.
macro_rules! le {
    ($t:ty, $n:expr) => {
        impl Le for $t {
            const SIZE: usize = $n;
            #[inline(always)]
            fn put(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            fn get(b: &[u8]) -> Self {
                let mut a = [0u8; $n];
                a.copy_from_slice(b);
                <$t>::from_le_bytes(a)
            }
        }
    };
}

le!(f64, 8);
le!(u32, 4);

fn to_bytes<T: Le>(v: &[T]) -> Vec<u8> {
    let mut out = vec![0u8; v.len() * T::SIZE];
    for (o, &x) in out.chunks_exact_mut(T::SIZE).zip(v) {
        x.put(o);
    }
    out
}

fn from_bytes<T: Le, E: de::Error>(b: &[u8]) -> Result<Vec<T>, E> {
    if b.len() % T::SIZE != 0 {
        return Err(E::custom(format!("{} bytes is not a whole number of {}-byte values", b.len(), T::SIZE)));
    }
    Ok(b.chunks_exact(T::SIZE).map(T::get).collect())
}

struct BytesOf<T>(std::marker::PhantomData<T>);

impl<'de, T: Le + de::Deserialize<'de>> Visitor<'de> for BytesOf<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}-byte little-endian values as bytes", T::SIZE)
    }

    fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<Vec<T>, E> {
        from_bytes(b)
    }

    fn visit_byte_buf<E: de::Error>(self, b: Vec<u8>) -> Result<Vec<T>, E> {
        from_bytes(&b)
    }

    /// Bytes written as an array of byte values (JSON).
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut b: Vec<u8> = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(x) = seq.next_element::<u8>()? {
            b.push(x);
        }
        from_bytes(&b)
    }
}

/// `Vec<f64>` as bytes.
pub mod f64s {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&to_bytes(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        d.deserialize_byte_buf(BytesOf::<f64>(std::marker::PhantomData))
    }
}

/// `[rank][layer] -> Vec<u32>` (top-k traces), each innermost list as bytes.
pub mod u32s_2d {
    use super::*;

    struct Row<'a>(&'a [Vec<u32>]);

    impl serde::Serialize for Row<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(self.0.len()))?;
            for v in self.0 {
                seq.serialize_element(&Bytes(to_bytes(v)))?;
            }
            seq.end()
        }
    }

    /// A list as a bytes value (bincode: length + bytes).
    struct Bytes(Vec<u8>);

    impl serde::Serialize for Bytes {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }

    struct List(Vec<u32>);

    impl<'de> serde::Deserialize<'de> for List {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<List, D::Error> {
            d.deserialize_byte_buf(BytesOf::<u32>(std::marker::PhantomData)).map(List)
        }
    }

    pub fn serialize<S: Serializer>(v: &[Vec<Vec<u32>>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for rank in v {
            seq.serialize_element(&Row(rank))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<Vec<u32>>>, D::Error> {
        let ranks: Vec<Vec<List>> = serde::Deserialize::deserialize(d)?;
        Ok(ranks.into_iter().map(|r| r.into_iter().map(|l| l.0).collect()).collect())
    }
}
