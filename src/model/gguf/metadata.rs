//! Reading a GGUF header: little-endian scalars, length-prefixed strings and
//! typed metadata values, each length checked against what is left.
use std::fmt;

/// A metadata value, as typed in the file.
#[derive(Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    /// Any integer that is not negative.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v.into()),
            Self::F64(v) => Some(v),
            Self::I8(v) => Some(v.into()),
            Self::I16(v) => Some(v.into()),
            Self::I32(v) => Some(v.into()),
            Self::I64(v) => Some(v as f64),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }
}

impl fmt::Debug for Value {
    /// Short: a vocabulary of 262k strings is not printed whole in an error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::U8(v) => write!(f, "{v}u8"),
            Self::I8(v) => write!(f, "{v}i8"),
            Self::U16(v) => write!(f, "{v}u16"),
            Self::I16(v) => write!(f, "{v}i16"),
            Self::U32(v) => write!(f, "{v}u32"),
            Self::I32(v) => write!(f, "{v}i32"),
            Self::F32(v) => write!(f, "{v}f32"),
            Self::Bool(v) => write!(f, "{v}"),
            Self::String(s) if s.chars().count() > 40 => {
                write!(f, "{:?}…", s.chars().take(40).collect::<String>())
            }
            Self::String(s) => write!(f, "{s:?}"),
            Self::Array(a) => write!(f, "an array of {} values", a.len()),
            Self::U64(v) => write!(f, "{v}u64"),
            Self::I64(v) => write!(f, "{v}i64"),
            Self::F64(v) => write!(f, "{v}f64"),
        }
    }
}

/// Arrays nest at most this deep (the format allows arrays of arrays).
const MAX_DEPTH: usize = 4;

/// Room reserved ahead for an array's values; more grows as they are read,
/// so a corrupt count fails on the bytes it lacks, not on an allocation.
const RESERVE: usize = 1 << 16;

/// The fewest bytes one value of this type takes in the file.
fn min_bytes(type_id: u32) -> u64 {
    match type_id {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        9 => 12,
        _ => 8,
    }
}

pub struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

type Read<T> = Result<T, String>;

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    pub fn position(&self) -> usize {
        self.at
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    pub fn bytes(&mut self, n: usize) -> Read<&'a [u8]> {
        if n > self.remaining() {
            return Err(format!(
                "needs {n} bytes at byte {}, but the file ends {} bytes later (truncated?)",
                self.at,
                self.remaining()
            ));
        }
        let slice = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Read<[u8; N]> {
        Ok(self.bytes(N)?.try_into().expect("N bytes"))
    }

    pub fn u32(&mut self) -> Read<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Read<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn string(&mut self) -> Read<String> {
        let len = self.u64()?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= self.remaining())
            .ok_or_else(|| {
                format!(
                    "a string of {len} bytes at byte {} runs past the end of the file (truncated?)",
                    self.at
                )
            })?;
        let at = self.at;
        String::from_utf8(self.bytes(len)?.to_vec())
            .map_err(|e| format!("the string at byte {at} is not UTF-8 ({e})"))
    }

    pub fn value(&mut self) -> Read<Value> {
        let type_id = self.u32()?;
        self.typed(type_id, 0)
    }

    fn typed(&mut self, type_id: u32, depth: usize) -> Read<Value> {
        Ok(match type_id {
            0 => Value::U8(self.array::<1>()?[0]),
            1 => Value::I8(i8::from_le_bytes(self.array()?)),
            2 => Value::U16(u16::from_le_bytes(self.array()?)),
            3 => Value::I16(i16::from_le_bytes(self.array()?)),
            4 => Value::U32(self.u32()?),
            5 => Value::I32(i32::from_le_bytes(self.array()?)),
            6 => Value::F32(f32::from_le_bytes(self.array()?)),
            7 => match self.array::<1>()?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(format!("a bool holds {b}, not 0 or 1")),
            },
            8 => Value::String(self.string()?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(format!("arrays nested deeper than {MAX_DEPTH}"));
                }
                let element = self.u32()?;
                let count = self.u64()?;
                // A count beyond what the bytes left can hold is a corrupt
                // file, not an allocation to attempt.
                if count.saturating_mul(min_bytes(element)) > self.remaining() as u64 {
                    return Err(format!(
                        "an array of {count} values cannot fit in the {} bytes left (truncated?)",
                        self.remaining()
                    ));
                }
                let mut values = Vec::with_capacity((count as usize).min(RESERVE));
                for _ in 0..count {
                    values.push(self.typed(element, depth + 1)?);
                }
                Value::Array(values)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(i64::from_le_bytes(self.array()?)),
            12 => Value::F64(f64::from_le_bytes(self.array()?)),
            other => return Err(format!("unknown value type {other}")),
        })
    }
}
