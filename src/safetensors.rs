//! The safetensors layout, read without libtorch: an 8-byte little-endian
//! header length, a JSON header giving each tensor's dtype, shape and byte
//! range, then the data. For our activation caches and other tools' files
//! (Delphi's latent caches). Start from [`Header::parse`]; every size in a
//! header is checked against the file before anything is read.
use std::collections::HashMap;
use std::ops::Range;

/// One tensor of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Where its data lies in the file.
    pub bytes: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub entries: HashMap<String, Entry>,
}

/// Bytes per element of the dtypes we read.
fn width(dtype: &str) -> Option<usize> {
    match dtype {
        "U8" | "I8" | "BOOL" => Some(1),
        "U16" | "I16" | "F16" | "BF16" => Some(2),
        "U32" | "I32" | "F32" => Some(4),
        "U64" | "I64" | "F64" => Some(8),
        _ => None,
    }
}

impl Header {
    /// The header of `file` (the whole file's bytes), each tensor's range
    /// checked to lie in the file and to hold exactly its shape. The error
    /// says what is wrong, naming the tensor.
    pub fn parse(file: &[u8]) -> Result<Self, String> {
        let length = file
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or("not a safetensors file: shorter than its 8-byte header length")?;
        let data_start = usize::try_from(length)
            .ok()
            .and_then(|l| l.checked_add(8))
            .filter(|&end| end <= file.len())
            .ok_or_else(|| format!("truncated: the header says {length} bytes"))?;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&file[8..data_start])
                .map_err(|e| format!("not a safetensors header: {e}"))?;
        let mut entries = HashMap::new();
        for (name, value) in header {
            if name == "__metadata__" {
                continue;
            }
            #[derive(serde::Deserialize)]
            struct Raw {
                dtype: String,
                shape: Vec<usize>,
                data_offsets: [usize; 2],
            }
            let raw: Raw = serde_json::from_value(value)
                .map_err(|e| format!("tensor {name}: not a header entry: {e}"))?;
            let width = width(&raw.dtype)
                .ok_or_else(|| format!("tensor {name}: dtype {} is not one we read", raw.dtype))?;
            let size = (raw.shape.iter())
                .try_fold(width, |n, &d| n.checked_mul(d))
                .ok_or_else(|| format!("tensor {name}: shape {:?} is too large", raw.shape))?;
            let [start, end] = raw.data_offsets;
            let bytes = data_start.saturating_add(start)..data_start.saturating_add(end);
            if start > end || bytes.end > file.len() {
                return Err(format!(
                    "tensor {name}: the file is too short for bytes {start}..{end} of its data (it has {})",
                    file.len() - data_start
                ));
            }
            if end - start != size {
                return Err(format!(
                    "tensor {name}: {} bytes for shape {:?} of {}",
                    end - start,
                    raw.shape,
                    raw.dtype
                ));
            }
            let entry = Entry {
                dtype: raw.dtype,
                shape: raw.shape,
                bytes,
            };
            entries.insert(name, entry);
        }
        Ok(Self { entries })
    }
}

impl Entry {
    /// Its integers widened to i64 (u64 beyond i64's range saturate), or
    /// `None` if it holds floats.
    pub fn ints(&self, file: &[u8]) -> Option<Vec<i64>> {
        let raw = &file[self.bytes.clone()];
        let chunks = |n| raw.chunks_exact(n);
        Some(match self.dtype.as_str() {
            "U8" | "BOOL" => raw.iter().map(|&b| i64::from(b)).collect(),
            "I8" => raw.iter().map(|&b| i64::from(b as i8)).collect(),
            "U16" => (chunks(2).map(|c| i64::from(u16::from_le_bytes([c[0], c[1]])))).collect(),
            "I16" => (chunks(2).map(|c| i64::from(i16::from_le_bytes([c[0], c[1]])))).collect(),
            "U32" => (chunks(4).map(|c| i64::from(u32::from_le_bytes(c.try_into().expect("4")))))
                .collect(),
            "I32" => (chunks(4).map(|c| i64::from(i32::from_le_bytes(c.try_into().expect("4")))))
                .collect(),
            "I64" => (chunks(8).map(|c| i64::from_le_bytes(c.try_into().expect("8")))).collect(),
            "U64" => (chunks(8).map(|c| u64::from_le_bytes(c.try_into().expect("8"))))
                .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
                .collect(),
            _ => return None,
        })
    }

    /// Its floats as f32, or `None` if it holds integers.
    pub fn floats(&self, file: &[u8]) -> Option<Vec<f32>> {
        let raw = &file[self.bytes.clone()];
        let chunks = |n| raw.chunks_exact(n);
        Some(match self.dtype.as_str() {
            "F16" => (chunks(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())).collect(),
            "BF16" => {
                (chunks(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())).collect()
            }
            "F32" => (chunks(4).map(|c| f32::from_le_bytes(c.try_into().expect("4")))).collect(),
            "F64" => {
                (chunks(8).map(|c| f64::from_le_bytes(c.try_into().expect("8")) as f32)).collect()
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Header;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn sizes_are_checked_before_anything_is_read() {
        let good = file(
            r#"{"a":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}}"#,
            &[1, 0, 2, 1],
        );
        let header = Header::parse(&good).unwrap();
        assert_eq!(header.entries["a"].ints(&good), Some(vec![1, 258]));
        assert_eq!(header.entries["a"].floats(&good), None);
        let cases = [
            (
                file(
                    r#"{"a":{"dtype":"U16","shape":[3],"data_offsets":[0,4]}}"#,
                    &[0; 4],
                ),
                "4 bytes for shape [3]",
            ),
            (
                file(
                    r#"{"a":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}}"#,
                    &[0; 3],
                ),
                "too short for bytes 0..4",
            ),
            (
                file(
                    r#"{"a":{"dtype":"I64","shape":[2305843009213693952,8],"data_offsets":[0,0]}}"#,
                    &[],
                ),
                "too large",
            ),
            (
                file(
                    r#"{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#,
                    &[0; 8],
                ),
                "dtype C64",
            ),
            (vec![255; 12], "truncated"),
            (vec![1, 2], "shorter than"),
        ];
        for (bytes, expected) in cases {
            let error = Header::parse(&bytes).unwrap_err();
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }
}
