//! ggml's tensor types and their dequantisation to float32: the block
//! layouts of ggml-quants.c, computed in the same order as PyPI `gguf`'s
//! reference (`gguf/quants.py`), against which the tests check every type.
use half::f16;

/// The tensor types featurescope reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    Bf16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
}

/// Values per super-block of the K quantisations.
const QK_K: usize = 256;

/// ggml's names of the type ids this reader does not dequantise.
fn unsupported_name(id: u32) -> Option<&'static str> {
    Some(match id {
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        34 => "TQ1_0",
        35 => "TQ2_0",
        39 => "MXFP4",
        40 => "NVFP4",
        41 => "Q1_0",
        _ => return None,
    })
}

impl GgmlType {
    pub const ALL: [GgmlType; 11] = [
        Self::F32,
        Self::F16,
        Self::Bf16,
        Self::Q4_0,
        Self::Q4_1,
        Self::Q5_0,
        Self::Q5_1,
        Self::Q8_0,
        Self::Q4K,
        Self::Q5K,
        Self::Q6K,
    ];

    pub fn id(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            Self::Q5_0 => 6,
            Self::Q5_1 => 7,
            Self::Q8_0 => 8,
            Self::Q4K => 12,
            Self::Q5K => 13,
            Self::Q6K => 14,
            Self::Bf16 => 30,
        }
    }

    pub fn from_id(id: u32) -> Result<Self, String> {
        if let Some(kind) = Self::ALL.into_iter().find(|k| k.id() == id) {
            return Ok(kind);
        }
        let read: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
        Err(match unsupported_name(id) {
            Some(name) => format!(
                "tensor type {name} (id {id}) is not supported; featurescope reads {}",
                read.join(", ")
            ),
            None => format!("unknown tensor type id {id}"),
        })
    }

    /// ggml's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::Bf16 => "BF16",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q5_0 => "Q5_0",
            Self::Q5_1 => "Q5_1",
            Self::Q8_0 => "Q8_0",
            Self::Q4K => "Q4_K",
            Self::Q5K => "Q5_K",
            Self::Q6K => "Q6_K",
        }
    }

    /// Values per block.
    pub fn block_values(self) -> usize {
        match self {
            Self::F32 | Self::F16 | Self::Bf16 => 1,
            Self::Q4_0 | Self::Q4_1 | Self::Q5_0 | Self::Q5_1 | Self::Q8_0 => 32,
            Self::Q4K | Self::Q5K | Self::Q6K => QK_K,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::Bf16 => 2,
            Self::Q4_0 => 18,
            Self::Q4_1 => 20,
            Self::Q5_0 => 22,
            Self::Q5_1 => 24,
            Self::Q8_0 => 34,
            Self::Q4K => 144,
            Self::Q5K => 176,
            Self::Q6K => 210,
        }
    }

    /// The bytes of `rows` rows of `row_values` values; `None` when a row
    /// does not divide into whole blocks (ggml quantises along rows).
    pub fn bytes_for(self, rows: u64, row_values: u64) -> Option<u64> {
        let block = self.block_values() as u64;
        if !row_values.is_multiple_of(block) {
            return None;
        }
        rows.checked_mul(row_values / block)?
            .checked_mul(self.block_bytes() as u64)
    }

    /// Dequantises whole blocks (`data.len()` a multiple of the block bytes).
    pub fn dequantize(self, data: &[u8]) -> Vec<f32> {
        let blocks = data.chunks_exact(self.block_bytes());
        let mut out = Vec::with_capacity(blocks.len() * self.block_values());
        for block in blocks {
            match self {
                Self::F32 => out.push(f32::from_le_bytes(block.try_into().expect("4 bytes"))),
                Self::F16 => out.push(half(block, 0)),
                Self::Bf16 => out.push(f32::from_bits(u32::from(u16_at(block, 0)) << 16)),
                Self::Q4_0 => q4_0(block, &mut out),
                Self::Q4_1 => q4_1(block, &mut out),
                Self::Q5_0 => q5_0(block, &mut out),
                Self::Q5_1 => q5_1(block, &mut out),
                Self::Q8_0 => q8_0(block, &mut out),
                Self::Q4K => q4_k(block, &mut out),
                Self::Q5K => q5_k(block, &mut out),
                Self::Q6K => q6_k(block, &mut out),
            }
        }
        out
    }
}

fn u16_at(block: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([block[at], block[at + 1]])
}

/// The float16 at byte `at`, widened.
fn half(block: &[u8], at: usize) -> f32 {
    f16::from_bits(u16_at(block, at)).to_f32()
}

/// Value `i` (0..32) of a 32-value block's packed nibbles: the first 16
/// values are the low nibbles of the 16 bytes, the next 16 the high ones.
fn nibble(qs: &[u8], i: usize) -> u8 {
    if i < 16 {
        qs[i] & 0x0F
    } else {
        qs[i - 16] >> 4
    }
}

fn q4_0(block: &[u8], out: &mut Vec<f32>) {
    let d = half(block, 0);
    let qs = &block[2..18];
    out.extend((0..32).map(|i| d * (nibble(qs, i) as i8 - 8) as f32));
}

fn q4_1(block: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (half(block, 0), half(block, 2));
    let qs = &block[4..20];
    out.extend((0..32).map(|i| d * nibble(qs, i) as f32 + m));
}

/// A 5-bit value: its low nibble, and bit `i` of `qh` as the fifth bit.
fn five_bits(qh: u32, qs: &[u8], i: usize) -> u8 {
    nibble(qs, i) | ((((qh >> i) & 1) as u8) << 4)
}

fn q5_0(block: &[u8], out: &mut Vec<f32>) {
    let d = half(block, 0);
    let qh = u32::from_le_bytes(block[2..6].try_into().expect("4 bytes"));
    let qs = &block[6..22];
    out.extend((0..32).map(|i| d * (five_bits(qh, qs, i) as i8 - 16) as f32));
}

fn q5_1(block: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (half(block, 0), half(block, 2));
    let qh = u32::from_le_bytes(block[4..8].try_into().expect("4 bytes"));
    let qs = &block[8..24];
    out.extend((0..32).map(|i| d * five_bits(qh, qs, i) as f32 + m));
}

fn q8_0(block: &[u8], out: &mut Vec<f32>) {
    let d = half(block, 0);
    out.extend(block[2..34].iter().map(|&q| q as i8 as f32 * d));
}

/// The eight 6-bit (scale, min) pairs of a Q4_K or Q5_K super-block,
/// packed in 12 bytes.
fn scales_and_mins(scales: &[u8]) -> ([u8; 8], [u8; 8]) {
    let (d, m, md) = (&scales[0..4], &scales[4..8], &scales[8..12]);
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    for j in 0..4 {
        sc[j] = d[j] & 0x3F;
        mn[j] = m[j] & 0x3F;
        sc[j + 4] = (md[j] & 0x0F) | ((d[j] >> 2) & 0x30);
        mn[j + 4] = (md[j] >> 4) | ((m[j] >> 2) & 0x30);
    }
    (sc, mn)
}

/// Q4_K and Q5_K: 8 sub-blocks of 32, each `d·scale·q − dmin·min`; the
/// quants of sub-blocks 2c and 2c+1 are the low and high nibbles of the
/// 32 bytes of chunk c, and Q5_K's fifth bits are bit s of byte i of `qh`.
fn k_quant(block: &[u8], qh: Option<&[u8]>, qs: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (half(block, 0), half(block, 2));
    let (sc, mn) = scales_and_mins(&block[4..16]);
    for s in 0..8 {
        let scale = d * sc[s] as f32;
        let min = dmin * mn[s] as f32;
        let chunk = &qs[(s / 2) * 32..(s / 2) * 32 + 32];
        let shift = if s % 2 == 0 { 0 } else { 4 };
        out.extend((0..32).map(|i| {
            let mut q = (chunk[i] >> shift) & 0x0F;
            if let Some(qh) = qh {
                q |= ((qh[i] >> s) & 1) << 4;
            }
            scale * q as f32 - min
        }));
    }
}

fn q4_k(block: &[u8], out: &mut Vec<f32>) {
    k_quant(block, None, &block[16..144], out);
}

fn q5_k(block: &[u8], out: &mut Vec<f32>) {
    k_quant(block, Some(&block[16..48]), &block[48..176], out);
}

/// Q6_K: 16 sub-blocks of 16 with signed 8-bit scales; each value's low four
/// bits come from `ql`, its high two from `qh`, stored in groups of 32.
fn q6_k(block: &[u8], out: &mut Vec<f32>) {
    let (ql, qh, scales) = (&block[0..128], &block[128..192], &block[192..208]);
    let d = half(block, 208);
    let start = out.len();
    for group in 0..8 {
        let (h, t) = (group / 4, group % 4);
        let (s, k) = (t / 2, t % 2);
        for i in 0..32 {
            let low = (ql[h * 64 + k * 32 + i] >> (4 * s)) & 0x0F;
            let high = (qh[h * 32 + i] >> (2 * t)) & 0x03;
            let q = (low | (high << 4)) as i8 - 32;
            let v = group * 32 + i;
            out.push(d * scales[v / 16] as i8 as f32 * q as f32);
        }
    }
    debug_assert_eq!(out.len() - start, QK_K);
}
