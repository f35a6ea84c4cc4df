//! HPACK (RFC 7541), as much as the h2 input shim needs: a [`Decoder`] that mirrors a client's
//! dynamic table exactly, and [`encode_field`], which writes literals that never touch the
//! receiver's dynamic table. Every input is untrusted: errors, never panics; memory is bounded
//! by the table size limit and by the caller's block.

mod huffman;

use std::collections::VecDeque;

/// The static table (RFC 7541 Appendix A), index 1 first.
const STATIC_TABLE: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// What each table entry costs beyond its name and value (RFC 7541 §4.1).
pub(crate) const ENTRY_OVERHEAD_BYTES: usize = 32;

/// Integers longer than this many continuation bytes are refused (values up to 2^35).
const MAX_INTEGER_SHIFT: u32 = 28;

/// Why a header block could not be decoded: always a connection error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HpackError {
    /// The block ended inside a representation.
    Truncated,
    /// An integer too large.
    Overflow,
    /// Index 0 or past the end of the tables.
    BadIndex,
    /// A Huffman string with EOS or bad padding.
    BadHuffman,
    /// A table size update above the advertised limit, or after a header field.
    BadSizeUpdate,
}

/// One decoded header field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) value: &'a [u8],
    /// Sent as "never indexed": intermediaries must keep it so.
    pub(crate) never_indexed: bool,
}

impl Field<'_> {
    /// The field's size as header list limits count it.
    pub(crate) fn size(&self) -> usize {
        self.name.len() + self.value.len() + ENTRY_OVERHEAD_BYTES
    }
}

struct Entry {
    name: Box<[u8]>,
    value: Box<[u8]>,
}

impl Entry {
    fn size(&self) -> usize {
        self.name.len() + self.value.len() + ENTRY_OVERHEAD_BYTES
    }
}

/// A decoder whose dynamic table follows the peer encoder's, block after block.
pub(crate) struct Decoder {
    /// Newest first: index 62 is `entries[0]`.
    entries: VecDeque<Entry>,
    size: usize,
    /// The table's maximum size as the encoder last set it.
    max_size: usize,
    /// The most the encoder may set: our `SETTINGS_HEADER_TABLE_SIZE`.
    limit: usize,
    name_buf: Vec<u8>,
    value_buf: Vec<u8>,
}

impl Decoder {
    /// A decoder for a peer told `SETTINGS_HEADER_TABLE_SIZE = limit` (the table starts at that
    /// size, as RFC 7540 lets the encoder use the setting without an update).
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            size: 0,
            max_size: limit,
            limit,
            name_buf: Vec::new(),
            value_buf: Vec::new(),
        }
    }

    /// Bytes the dynamic table holds (as RFC 7541 counts them).
    #[cfg(test)]
    fn table_size(&self) -> usize {
        self.size
    }

    /// Decodes one whole header block, calling `on_field` for each field in order. The table
    /// is updated as the block says, so blocks must be given in the order they were sent; after
    /// an error the table is undefined and the connection must end.
    pub(crate) fn decode(
        &mut self,
        block: &[u8],
        mut on_field: impl FnMut(Field<'_>),
    ) -> Result<(), HpackError> {
        let mut name_buf = std::mem::take(&mut self.name_buf);
        let mut value_buf = std::mem::take(&mut self.value_buf);
        let result = self.decode_inner(block, &mut name_buf, &mut value_buf, &mut on_field);
        // Keep the scratch buffers unless a large block grew them.
        for buf in [&mut name_buf, &mut value_buf] {
            buf.clear();
            if buf.capacity() > 4096 {
                *buf = Vec::new();
            }
        }
        self.name_buf = name_buf;
        self.value_buf = value_buf;
        result
    }

    fn decode_inner(
        &mut self,
        block: &[u8],
        name_buf: &mut Vec<u8>,
        value_buf: &mut Vec<u8>,
        on_field: &mut impl FnMut(Field<'_>),
    ) -> Result<(), HpackError> {
        let mut pos = 0;
        let mut fields_seen = false;
        while pos < block.len() {
            let first = block[pos];
            if first & 0x80 != 0 {
                // Indexed field.
                let index = decode_int(block, &mut pos, 7)?;
                let (name, value) = self.get(index)?;
                on_field(Field { name, value, never_indexed: false });
                fields_seen = true;
            } else if first & 0xe0 == 0x20 {
                // Dynamic table size update: only before the first field (RFC 7541 §4.2).
                let size = decode_int(block, &mut pos, 5)?;
                if fields_seen || size > self.limit {
                    return Err(HpackError::BadSizeUpdate);
                }
                self.max_size = size;
                self.evict_to(size);
            } else {
                let (prefix, indexing, never_indexed) = match first & 0xf0 {
                    0x00 => (4, false, false),
                    0x10 => (4, false, true),
                    _ => (6, true, false),
                };
                let name_index = decode_int(block, &mut pos, prefix)?;
                name_buf.clear();
                value_buf.clear();
                if name_index == 0 {
                    decode_string(block, &mut pos, name_buf)?;
                } else {
                    name_buf.extend_from_slice(self.get(name_index)?.0);
                }
                decode_string(block, &mut pos, value_buf)?;
                if indexing {
                    self.insert(name_buf, value_buf);
                }
                on_field(Field { name: name_buf, value: value_buf, never_indexed });
                fields_seen = true;
            }
        }
        Ok(())
    }

    fn get(&self, index: usize) -> Result<(&[u8], &[u8]), HpackError> {
        match index {
            0 => Err(HpackError::BadIndex),
            1..=61 => Ok(STATIC_TABLE[index - 1]),
            _ => self
                .entries
                .get(index - 62)
                .map(|e| (&*e.name, &*e.value))
                .ok_or(HpackError::BadIndex),
        }
    }

    fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = name.len() + value.len() + ENTRY_OVERHEAD_BYTES;
        if size > self.max_size {
            // Not an error: the table just empties (RFC 7541 §4.4).
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max_size - size);
        self.entries.push_front(Entry { name: name.into(), value: value.into() });
        self.size += size;
    }

    fn evict_to(&mut self, size: usize) {
        while self.size > size {
            let Some(e) = self.entries.pop_back() else { break };
            self.size -= e.size();
        }
    }
}

/// Reads an integer with an `prefix`-bit prefix at `pos` (RFC 7541 §5.1).
fn decode_int(buf: &[u8], pos: &mut usize, prefix: u32) -> Result<usize, HpackError> {
    let mask = (1u8 << prefix) - 1;
    let first = *buf.get(*pos).ok_or(HpackError::Truncated)? & mask;
    *pos += 1;
    if first < mask {
        return Ok(usize::from(first));
    }
    let mut value = u64::from(mask);
    let mut shift = 0u32;
    loop {
        let b = *buf.get(*pos).ok_or(HpackError::Truncated)?;
        *pos += 1;
        value += u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return usize::try_from(value).map_err(|_| HpackError::Overflow);
        }
        shift += 7;
        if shift > MAX_INTEGER_SHIFT {
            return Err(HpackError::Overflow);
        }
    }
}

/// Reads a string literal at `pos` into `out` (RFC 7541 §5.2).
fn decode_string(buf: &[u8], pos: &mut usize, out: &mut Vec<u8>) -> Result<(), HpackError> {
    let huffman = *buf.get(*pos).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = decode_int(buf, pos, 7)?;
    let end = pos.checked_add(len).filter(|&e| e <= buf.len()).ok_or(HpackError::Truncated)?;
    let data = &buf[*pos..end];
    *pos = end;
    if huffman {
        huffman::decode(data, out).map_err(|_| HpackError::BadHuffman)
    } else {
        out.extend_from_slice(data);
        Ok(())
    }
}

fn encode_int(out: &mut Vec<u8>, flags: u8, prefix: u32, value: usize) {
    let mask = (1usize << prefix) - 1;
    if value < mask {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
}

fn encode_string(out: &mut Vec<u8>, s: &[u8]) {
    let coded = huffman::encoded_len(s);
    if coded < s.len() {
        encode_int(out, 0x80, 7, coded);
        huffman::encode(s, out);
    } else {
        encode_int(out, 0, 7, s.len());
        out.extend_from_slice(s);
    }
}

/// The static table index of `name` (its first entry), if it has one.
fn static_name_index(name: &[u8]) -> Option<usize> {
    STATIC_TABLE.iter().position(|(n, _)| *n == name).map(|i| i + 1)
}

/// Appends `field` as a literal without indexing (or never indexed, if it was so sent): the
/// receiver's dynamic table is neither read nor changed. Names in the static table are sent
/// by index; strings are Huffman-coded when that is shorter.
pub(crate) fn encode_field(out: &mut Vec<u8>, field: Field<'_>) {
    let flags = if field.never_indexed { 0x10 } else { 0x00 };
    match static_name_index(field.name) {
        Some(index) => encode_int(out, flags, 4, index),
        None => {
            out.push(flags);
            encode_string(out, field.name);
        }
    }
    encode_string(out, field.value);
}

#[cfg(test)]
mod tests;
